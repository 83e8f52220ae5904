// Package sdk is the Go client of the Customer Hub: every route of the hub's API as a method of a
// service (client.Customers.Create, client.Loyalty.PostTransaction, …), with the request and
// answer types of its OpenAPI document. It uses the standard library only.
//
// Every failed call returns an *Error carrying the hub's stable code (CodeEmailTaken, …), or the
// context's error when the context ended. Writes carry an Idempotency-Key, kept over their
// retries: a call that got no answer, a 5xx or IDEMPOTENCY_IN_PROGRESS is sent again (3 times by
// default, with exponential backoff), and the hub runs it once.
//
//	client, err := sdk.NewClient(sdk.Config{BaseURL: "http://127.0.0.1:1337", Token: os.Getenv("HUB_TOKEN")})
//	if err != nil {
//		log.Fatal(err)
//	}
//	customer, err := client.Customers.Create(ctx, &sdk.CustomerInput{
//		Email:     "jane@example.com",
//		FirstName: "Jane",
//		LastName:  "Doe",
//		Password:  "securePassword123",
//	})
//
// The files *_gen.go are generated from the hub's OpenAPI document by scripts/generate-go.js
// (npm run generate); this file and errors.go are written by hand.
package sdk

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config says where the hub is and how to call it. Only BaseURL is required.
type Config struct {
	// BaseURL is where the hub answers, e.g. http://127.0.0.1:1337; a path prefix is kept.
	BaseURL string

	// Token is the API token (or a session's access token) sent as "Authorization: Bearer <token>".
	// Empty sends none; Client.SetToken changes it later.
	Token string

	// HTTPClient sends the requests. Default: a new http.Client of its own.
	HTTPClient *http.Client

	// Timeout is how long one attempt of a call may take before it fails with CodeTimeout (and is
	// retried). Default 30 s; a negative value waits for as long as the context allows.
	Timeout time.Duration

	// Retries is how often a call that got no answer, a 5xx or IDEMPOTENCY_IN_PROGRESS is sent
	// again. Default 3; a negative value sends each call once.
	Retries int

	// RetryDelay is the first wait before a retry; each further one doubles, with jitter, up to
	// 5 s. Default 200 ms.
	RetryDelay time.Duration

	// Header holds headers sent with every call.
	Header http.Header
}

// Client calls the hub. It is safe for concurrent use; make one and share it.
type Client struct {
	services

	base       string
	http       *http.Client
	timeout    time.Duration
	retries    int
	retryDelay time.Duration
	header     http.Header

	mu    sync.RWMutex
	token string
}

// The longest wait between two attempts of a call.
const maxBackoff = 5 * time.Second

// BodyLimit is the largest request body the hub takes, in bytes (1 MiB); a larger one is answered
// 413 BODY_TOO_LARGE. A call with a larger body that gets no answer fails with CodeBodyTooLarge
// (status 0) instead of being sent again.
const BodyLimit = 1 << 20

// How much longer than its wait a long poll of the event feed may take before it times out.
const longPollMargin = 30 * time.Second

// NewClient checks the configuration and makes a client.
//
//	client, err := sdk.NewClient(sdk.Config{BaseURL: "http://127.0.0.1:1337", Token: os.Getenv("HUB_TOKEN")})
func NewClient(config Config) (*Client, error) {
	u, err := url.Parse(config.BaseURL)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("sdk: BaseURL %q is not an absolute URL, e.g. http://127.0.0.1:1337", config.BaseURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("sdk: BaseURL %q must be an http or https URL", config.BaseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("sdk: BaseURL %q must not have a query or fragment", config.BaseURL)
	}
	c := &Client{
		base:       strings.TrimRight(u.String(), "/"),
		http:       config.HTTPClient,
		timeout:    config.Timeout,
		retries:    config.Retries,
		retryDelay: config.RetryDelay,
		header:     config.Header.Clone(),
		token:      config.Token,
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.timeout == 0 {
		c.timeout = 30 * time.Second
	}
	if c.retries == 0 {
		c.retries = 3
	} else if c.retries < 0 {
		c.retries = 0
	}
	if c.retryDelay <= 0 {
		c.retryDelay = 200 * time.Millisecond
	}
	c.services.init(c)
	return c, nil
}

// SetToken replaces the token of every later call, e.g. with the access token of a login; empty
// sends none.
//
//	session, err := client.Auth.Login(ctx, &sdk.LoginInput{Email: "jane@example.com", Password: "securePassword123"})
//	client.SetToken(session.AccessToken)
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

func (c *Client) currentToken() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// CallOption changes one call: its Idempotency-Key, a header, its timeout.
type CallOption func(*call)

// WithIdempotencyKey sends the call with this key (1 to 200 visible ASCII characters) instead of a
// new one: the same key again gets the first call's answer, and the hub runs the call once. It
// also fills the idempotencyKey of a body that has one (ledger transactions, holds, coupon
// redemptions) when the body leaves it empty. A read sends no key.
//
//	customer, err := client.Customers.Create(ctx, input, sdk.WithIdempotencyKey("signup-"+formID))
func WithIdempotencyKey(key string) CallOption {
	return func(c *call) { c.key = key }
}

// WithHeader sends a header with this call.
func WithHeader(name, value string) CallOption {
	return func(c *call) { c.header.Set(name, value) }
}

// WithTimeout overrides the client's Timeout for each attempt of this call.
func WithTimeout(d time.Duration) CallOption {
	return func(c *call) { c.timeout = d; c.timeoutSet = true }
}

// Ptr gives a pointer to v: the optional numbers and booleans of a request are pointers, so that
// 0 and false can be sent.
//
//	page, err := client.Customers.List(ctx, &sdk.CustomerListQuery{MaxOrders: sdk.Ptr[int64](0)})
func Ptr[T any](v T) *T { return &v }

// Nullable is a field of a change (a PATCH body) that may also be cleared: nil leaves the field
// as it is, Set(v) changes it to v, Null[T]() clears it.
//
//	_, err := client.Customers.Update(ctx, id, &sdk.CustomerPatch{FirstName: sdk.Set("Janet"), Phone: sdk.Null[string]()})
type Nullable[T any] struct {
	Value T
	Null  bool
}

// Set is a Nullable holding v.
func Set[T any](v T) *Nullable[T] { return &Nullable[T]{Value: v} }

// Null is a Nullable that clears its field.
func Null[T any]() *Nullable[T] { return &Nullable[T]{Null: true} }

// MarshalJSON writes the value, or null.
func (n Nullable[T]) MarshalJSON() ([]byte, error) {
	if n.Null {
		return []byte("null"), nil
	}
	return json.Marshal(n.Value)
}

// UnmarshalJSON reads a value or null.
func (n *Nullable[T]) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		var zero T
		n.Value, n.Null = zero, true
		return nil
	}
	n.Null = false
	return json.Unmarshal(data, &n.Value)
}

// How a call of an operation is sent.
type callKind int

const (
	// a read: retried
	callRead callKind = iota
	// a write with a token: an Idempotency-Key, retried with it
	callWrite
	// a read without a token (health, the OpenAPI document, the signing keys): retried
	callPublicRead
	// a write without a token (sign-in, one-time tokens): no key, so never sent twice
	callPublicWrite
	// a file streamed to the hub (an import): keyed by its content, sent once
	callUpload
)

// call is one call of an operation, as its generated method prepares it.
type call struct {
	operation  string
	method     string
	path       string
	kind       callKind
	query      url.Values
	header     http.Header
	key        string
	timeout    time.Duration
	timeoutSet bool
	body       any
	file       io.Reader
	fileType   string
}

// newCall prepares a call of an operation: its path with each parameter encoded as one segment,
// its options, and (for a write) its Idempotency-Key.
func (c *Client) newCall(operation, method string, kind callKind, template string, params []string, opts []CallOption) (*call, error) {
	path := template
	for i := 0; i+1 < len(params); i += 2 {
		name, value := params[i], params[i+1]
		// URLs drop or resolve such segments: /customer/{id}/group/.. would reach /customer/{id}
		if value == "" || value == "." || value == ".." {
			return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("%q cannot be the %s of %s %s", value, name, method, template)}
		}
		path = strings.Replace(path, "{"+name+"}", url.PathEscape(value), 1)
	}
	cl := &call{operation: operation, method: method, path: path, kind: kind, header: http.Header{}, timeout: c.timeout}
	for _, o := range opts {
		o(cl)
	}
	if cl.key == "" && kind == callWrite {
		cl.key = newIdempotencyKey()
	}
	return cl, nil
}

// longPoll gives a call that waits up to `seconds` on the hub (GET /events?wait=) that much more
// time, unless WithTimeout said otherwise.
func (cl *call) longPoll(seconds int64) {
	if seconds > 0 && !cl.timeoutSet {
		cl.timeout = time.Duration(seconds)*time.Second + longPollMargin
	}
}

func (cl *call) upload(contentType string, file io.Reader) {
	cl.fileType, cl.file = contentType, file
}

// invalid is the error of a call refused before it was sent.
func (cl *call) invalid(message string) error {
	return &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("%s %s: %s", cl.method, cl.path, message)}
}

// answer is a success answer of the hub.
type answer struct {
	status    int
	body      []byte
	requestID string
	where     string
}

// decode reads the answer's JSON into out.
func (a *answer) decode(out any) error {
	if err := json.Unmarshal(a.body, out); err != nil {
		return &Error{Status: a.status, Code: CodeUnexpectedResponse, Message: fmt.Sprintf("%s: the answer is not the JSON expected (%v)", a.where, err), RequestID: a.requestID, Err: err}
	}
	return nil
}

// registrationPending is the error of a registration the hub accepted (202) that waits for the
// verification of its email.
func (a *answer) registrationPending() error {
	var pending struct {
		Email     string `json:"email"`
		ExpiresAt string `json:"expiresAt"`
	}
	_ = json.Unmarshal(a.body, &pending)
	return &Error{
		Status:    a.status,
		Code:      CodeRegistrationPending,
		Message:   fmt.Sprintf("the email belongs to an existing customer record: a verification token was sent to %s; the account exists once it comes back", pending.Email),
		Details:   map[string]any{"email": pending.Email, "expiresAt": pending.ExpiresAt},
		RequestID: a.requestID,
	}
}

// send sends a call, and again after a failure worth retrying (see retryable) as long as the
// client's Retries allow: a write carries the same Idempotency-Key each time, so the hub runs it
// once and gives the first answer to the others. The context's end stops it at once.
func (c *Client) send(ctx context.Context, cl *call) (*answer, error) {
	var payload []byte
	if cl.body != nil {
		var err error
		if payload, err = json.Marshal(cl.body); err != nil {
			return nil, cl.invalid(fmt.Sprintf("the body cannot be sent as JSON (%v)", err))
		}
	}
	// a write without a key, and a file read as it is sent, cannot be sent twice
	retries := c.retries
	if cl.kind == callPublicWrite || cl.kind == callUpload {
		retries = 0
	}
	for attempt := 1; ; attempt++ {
		a, err := c.attempt(ctx, cl, payload)
		if err == nil {
			return a, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if attempt > retries || !retryable(err) {
			return nil, err
		}
		wait := time.NewTimer(backoff(attempt, c.retryDelay))
		select {
		case <-ctx.Done():
			wait.Stop()
			return nil, ctx.Err()
		case <-wait.C:
		}
	}
}

// retryable is true for failures worth sending again with the same Idempotency-Key: no answer
// (CodeNetworkError, CodeTimeout), any 5xx, and IDEMPOTENCY_IN_PROGRESS (an earlier attempt with
// this key, one that timed out here, still runs on the hub). Every other 4xx is the hub's final
// answer, and so is CodeBodyTooLarge with status 0 (no answer to a body over the hub's limit).
func retryable(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == CodeNetworkError || e.Code == CodeTimeout || e.Code == CodeIdempotencyInProgress || e.Status >= 500
}

// backoff is the wait before retry number `attempt`: between half and all of delay·2^(attempt-1),
// at most 5 s.
func backoff(attempt int, delay time.Duration) time.Duration {
	ceiling := delay << (attempt - 1)
	if ceiling > maxBackoff || ceiling <= 0 {
		ceiling = maxBackoff
	}
	return ceiling/2 + time.Duration(mathrand.Int63n(int64(ceiling/2)+1))
}

// attempt sends a call once.
func (c *Client) attempt(ctx context.Context, cl *call, payload []byte) (*answer, error) {
	u := c.base + cl.path
	if len(cl.query) > 0 {
		u += "?" + cl.query.Encode()
	}
	// the query may hold personal data (email, q): messages name the path only
	where := cl.method + " " + c.base + cl.path
	attemptCtx, cancel := ctx, context.CancelFunc(func() {})
	if cl.timeout > 0 {
		attemptCtx, cancel = context.WithTimeout(ctx, cl.timeout)
	}
	defer cancel()

	var body io.Reader
	switch {
	case cl.file != nil:
		body = cl.file
	case payload != nil:
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(attemptCtx, cl.method, u, body)
	if err != nil {
		return nil, &Error{Code: CodeInvalidArgument, Message: fmt.Sprintf("%s: %v", where, err), Err: err}
	}
	for name, values := range c.header {
		req.Header[name] = append([]string(nil), values...)
	}
	for name, values := range cl.header {
		req.Header[name] = append([]string(nil), values...)
	}
	req.Header.Set("Accept", "application/json")
	if cl.kind != callPublicRead && cl.kind != callPublicWrite && req.Header.Get("Authorization") == "" {
		if token := c.currentToken(); token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
	}
	switch {
	case cl.file != nil:
		req.Header.Set("Content-Type", cl.fileType)
	case payload != nil:
		// the hub refuses an empty body announced as JSON: only a body has a type
		req.Header.Set("Content-Type", "application/json")
	}
	if cl.key != "" && cl.kind == callWrite {
		req.Header.Set("Idempotency-Key", cl.key)
	}

	failure := func(status int, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cause := err.Error()
		if attemptCtx.Err() != nil {
			cause = "timed out"
		}
		if len(payload) > BodyLimit {
			return &Error{Status: status, Code: CodeBodyTooLarge, Message: fmt.Sprintf("%s: no answer to a body of %d bytes, over the hub's limit of %d (%s); send less", where, len(payload), BodyLimit, cause), Err: err}
		}
		if attemptCtx.Err() != nil {
			return &Error{Status: status, Code: CodeTimeout, Message: fmt.Sprintf("%s: no answer within %s", where, cl.timeout), Err: err}
		}
		return &Error{Status: status, Code: CodeNetworkError, Message: fmt.Sprintf("%s: the hub could not be reached (%s)", where, cause), Err: err}
	}

	res, err := c.http.Do(req)
	if err != nil {
		return nil, failure(0, err)
	}
	defer res.Body.Close()
	requestID := res.Header.Get("X-Request-Id")
	text, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, failure(0, err)
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return &answer{status: res.StatusCode, body: text, requestID: requestID, where: where}, nil
	}
	var hubErr struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	}
	if json.Unmarshal(text, &hubErr) == nil && hubErr.Code != "" && hubErr.Message != "" {
		return nil, &Error{Status: res.StatusCode, Code: ErrorCode(hubErr.Code), Message: hubErr.Message, Details: hubErr.Details, RequestID: requestID}
	}
	excerpt := string(text)
	if len(excerpt) > 200 {
		excerpt = excerpt[:200] + "…"
	}
	return nil, &Error{
		Status:    res.StatusCode,
		Code:      CodeUnexpectedResponse,
		Message:   strings.TrimSuffix(fmt.Sprintf("%s: answered %s without a hub error body: %s", where, res.Status, excerpt), ": "),
		RequestID: requestID,
	}
}

// newIdempotencyKey is a random UUID (version 4).
func newIdempotencyKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("sdk: no random bytes for an idempotency key: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
