package sdk

import (
	"errors"
	"fmt"
)

// ErrorCode is a stable UPPER_SNAKE code: one of the hub's error catalogue (codes_gen.go), one of
// the client's own below, or a code added by a newer hub. Switch on it, never on a message.
type ErrorCode string

// The codes the client itself gives when no answer of the hub could be read.
const (
	// CodeNetworkError: the hub could not be reached (refused, reset, DNS); Status is 0. Retried.
	CodeNetworkError ErrorCode = "NETWORK_ERROR"
	// CodeTimeout: no answer within the call's timeout; Status is 0. Retried.
	CodeTimeout ErrorCode = "TIMEOUT"
	// CodeUnexpectedResponse: an answer that is not the hub's (e.g. an HTML page from a proxy,
	// or a success whose body is not the JSON expected); Status is the HTTP status received.
	CodeUnexpectedResponse ErrorCode = "UNEXPECTED_RESPONSE"
	// CodeInvalidArgument: nothing was sent, as a path parameter was empty, "." or ".." (which
	// would name another route), or a required body was nil; Status is 0.
	CodeInvalidArgument ErrorCode = "INVALID_ARGUMENT"
	// CodeRegistrationPending: a registration with the email of a guest record was accepted
	// (202) and waits for the verification token sent to that email; Details has email and
	// expiresAt. The account exists once the token comes back.
	CodeRegistrationPending ErrorCode = "REGISTRATION_PENDING"
)

// Error is what every failed call returns (unless its context ended: then the context's error):
// a non-2xx answer of the hub, or a call that got no answer at all (Status 0).
//
//	_, err := client.Customers.Create(ctx, &sdk.CustomerInput{Email: "jane@example.com"})
//	var hubErr *sdk.Error
//	if errors.As(err, &hubErr) && hubErr.Code == sdk.CodeEmailTaken {
//		log.Printf("this email is registered already; request %s", hubErr.RequestID)
//	}
type Error struct {
	// Status is the HTTP status; 0 when no answer arrived.
	Status int
	// Code is the hub's stable code (codes_gen.go) or one of the client's.
	Code ErrorCode
	// Message says what happened, for a person.
	Message string
	// Details are extra facts the hub gave, e.g. customerId of the owner of a taken identity.
	Details map[string]any
	// RequestID is the X-Request-Id of the answer: the key to the hub's log lines of this request.
	RequestID string
	// Err is the cause of a call that got no answer.
	Err error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("customer hub: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("customer hub: %s (%d): %s", e.Code, e.Status, e.Message)
}

// Unwrap gives the cause of a call that got no answer.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &sdk.Error{Code: sdk.CodeCustomerNotFound}) true for an error of that code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Status == 0 || t.Status == e.Status)
}

// IsCode is true when err is (or wraps) an *Error with this code.
//
//	if sdk.IsCode(err, sdk.CodeCustomerNotFound) {
//		return nil
//	}
func IsCode(err error, code ErrorCode) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
