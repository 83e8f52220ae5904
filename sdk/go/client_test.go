package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/his-her/customer-hub/sdk/go"
)

// These tests run against a listening hub: HUB_URL and an admin token in HUB_TOKEN
// (scripts/go-sdk-test.js starts one and sets both: npm run test:go).
func hub(t *testing.T) (string, string) {
	t.Helper()
	base, token := os.Getenv("HUB_URL"), os.Getenv("HUB_TOKEN")
	if base == "" || token == "" {
		t.Fatal("HUB_URL and HUB_TOKEN must name a listening hub and an admin token (npm run test:go starts one)")
	}
	return base, token
}

// newClient is a client of the hub at base (the hub itself, or a proxy in front of it) with a
// transport of its own, so that its first request opens a new connection.
func newClient(t *testing.T, base string, config sdk.Config) *sdk.Client {
	t.Helper()
	_, token := hub(t)
	config.BaseURL = base
	config.Token = token
	config.HTTPClient = &http.Client{Transport: &http.Transport{}}
	if config.RetryDelay == 0 {
		config.RetryDelay = time.Millisecond
	}
	client, err := sdk.NewClient(config)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func uniqueEmail(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "go-" + hex.EncodeToString(b) + "@example.com"
}

// hubError is err as an *sdk.Error, or fails the test.
func hubError(t *testing.T, err error) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) {
		t.Fatalf("want an *sdk.Error, got %T: %v", err, err)
	}
	return e
}

// countByEmail is how many live customers have this email.
func countByEmail(t *testing.T, client *sdk.Client, email string) int {
	t.Helper()
	page, err := client.Customers.List(context.Background(), &sdk.CustomerListQuery{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Data)
}

func TestCreateAsDocumentedThenGet(t *testing.T) {
	base, _ := hub(t)
	client := newClient(t, base, sdk.Config{})
	ctx := context.Background()
	email := uniqueEmail(t)

	customer, err := client.Customers.Create(ctx, &sdk.CustomerInput{
		Email:     email,
		FirstName: "Jane",
		LastName:  "Doe",
		Password:  "securePassword123",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(customer.ID, "cus_") || customer.Email == nil || *customer.Email != email || !customer.HasAccount {
		t.Fatalf("created %+v", customer)
	}

	got, err := client.Customers.Get(ctx, customer.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != customer.ID || *got.FirstName != "Jane" || *got.LastName != "Doe" || *got.Email != email || got.Groups == nil {
		t.Fatalf("read back %+v", got)
	}

	// a query filter and a change with a field cleared (null) and one set
	if _, err := client.Customers.AddToGroup(ctx, customer.ID, &sdk.GroupInput{Group: "vip"}); err != nil {
		t.Fatal(err)
	}
	page, err := client.Customers.List(ctx, &sdk.CustomerListQuery{Email: email, Group: []string{"vip"}, MaxOrders: sdk.Ptr[int64](0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != customer.ID {
		t.Fatalf("listed %+v", page.Data)
	}
	changed, err := client.Customers.Update(ctx, customer.ID, &sdk.CustomerPatch{FirstName: sdk.Set("Janet"), LastName: sdk.Null[string]()})
	if err != nil {
		t.Fatal(err)
	}
	if *changed.FirstName != "Janet" || changed.LastName != nil {
		t.Fatalf("changed %+v", changed)
	}
}

func TestErrorsCarryTheHubsCode(t *testing.T) {
	base, _ := hub(t)
	client := newClient(t, base, sdk.Config{})
	ctx := context.Background()

	_, err := client.Customers.Get(ctx, "cus_01JGOSDK000000000000000000")
	e := hubError(t, err)
	if e.Status != 404 || e.Code != sdk.CodeCustomerNotFound || e.RequestID == "" || e.Message == "" {
		t.Fatalf("got %#v", e)
	}
	if !sdk.IsCode(err, sdk.CodeCustomerNotFound) || !errors.Is(err, &sdk.Error{Code: sdk.CodeCustomerNotFound}) || errors.Is(err, &sdk.Error{Code: sdk.CodeEmailTaken}) {
		t.Fatal("IsCode and errors.Is do not match the code")
	}

	email := uniqueEmail(t)
	if _, err := client.Customers.Create(ctx, &sdk.CustomerInput{Email: email}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Customers.Create(ctx, &sdk.CustomerInput{Email: email})
	if e := hubError(t, err); e.Status != 409 || e.Code != sdk.CodeEmailTaken {
		t.Fatalf("a second customer with the email: %#v", e)
	}

	// nothing is sent for a path segment that would name another route
	_, err = client.Customers.RemoveFromGroup(ctx, "cus_01JGOSDK000000000000000000", "..")
	if e := hubError(t, err); e.Status != 0 || e.Code != sdk.CodeInvalidArgument {
		t.Fatalf("a group of \"..\": %#v", e)
	}
}

func TestTheSameIdempotencyKeyTwiceMakesOneCustomer(t *testing.T) {
	base, _ := hub(t)
	client := newClient(t, base, sdk.Config{})
	ctx := context.Background()
	email := uniqueEmail(t)
	key := "go-sdk-" + email

	first, err := client.Customers.Create(ctx, &sdk.CustomerInput{Email: email, FirstName: "Jane"}, sdk.WithIdempotencyKey(key))
	if err != nil {
		t.Fatal(err)
	}
	again, err := client.Customers.Create(ctx, &sdk.CustomerInput{Email: email, FirstName: "Jane"}, sdk.WithIdempotencyKey(key))
	if err != nil {
		t.Fatalf("the same request with the same key: %v", err)
	}
	if again.ID != first.ID || countByEmail(t, client, email) != 1 {
		t.Fatalf("two requests with one key: %s and %s, %d customers", first.ID, again.ID, countByEmail(t, client, email))
	}
	// the same key with another request is refused
	_, err = client.Customers.Create(ctx, &sdk.CustomerInput{Email: uniqueEmail(t)}, sdk.WithIdempotencyKey(key))
	if e := hubError(t, err); e.Code != sdk.CodeIdempotencyKeyReused || e.Status != 422 {
		t.Fatalf("the key with another body: %#v", e)
	}
}

// proxy is a server in front of the hub whose handler decides, attempt by attempt, what to do.
type proxy struct {
	*httptest.Server
	mu       sync.Mutex
	attempts []*http.Request
}

func (p *proxy) seen() []*http.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*http.Request(nil), p.attempts...)
}

// newProxy starts a proxy to the hub; handle gets the number of the attempt (from 1) and the
// request, and says whether the proxy should forward it as usual.
func newProxy(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request, forward func(http.ResponseWriter)) bool) *proxy {
	t.Helper()
	base, _ := hub(t)
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	reverse := httputil.NewSingleHostReverseProxy(target)
	p := &proxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.attempts = append(p.attempts, r.Clone(context.Background()))
		n := len(p.attempts)
		p.mu.Unlock()
		forward := func(to http.ResponseWriter) { reverse.ServeHTTP(to, r) }
		if handle(n, w, r, forward) {
			forward(w)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

// drop closes the client's connection without an answer.
func drop(t *testing.T, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	conn.Close()
}

func TestAWriteWhoseAnswerWasLostIsSentAgainWithItsKeyAndRunsOnce(t *testing.T) {
	// the first attempt reaches the hub, which creates the customer; its answer never comes back
	p := newProxy(t, func(n int, w http.ResponseWriter, r *http.Request, forward func(http.ResponseWriter)) bool {
		if n > 1 {
			return true
		}
		forward(httptest.NewRecorder())
		drop(t, w)
		return false
	})
	client := newClient(t, p.URL, sdk.Config{})
	email := uniqueEmail(t)

	customer, err := client.Customers.Create(context.Background(), &sdk.CustomerInput{Email: email, FirstName: "Jane"})
	if err != nil {
		t.Fatal(err)
	}
	attempts := p.seen()
	if len(attempts) != 2 {
		t.Fatalf("%d attempts, want 2", len(attempts))
	}
	key := attempts[0].Header.Get("Idempotency-Key")
	if key == "" || attempts[1].Header.Get("Idempotency-Key") != key {
		t.Fatalf("keys %q and %q: want one key for both attempts", key, attempts[1].Header.Get("Idempotency-Key"))
	}
	direct := newClient(t, os.Getenv("HUB_URL"), sdk.Config{})
	if n := countByEmail(t, direct, email); n != 1 || !strings.HasPrefix(customer.ID, "cus_") {
		t.Fatalf("%d customers with the email after a retried create, want 1", n)
	}
}

func TestA5xxIsRetriedAndA4xxIsNot(t *testing.T) {
	p := newProxy(t, func(n int, w http.ResponseWriter, r *http.Request, forward func(http.ResponseWriter)) bool {
		if n == 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"statusCode":503,"code":"DATABASE_UNAVAILABLE","error":"Service Unavailable","message":"The database cannot be reached; retry shortly."}`))
			return false
		}
		return true
	})
	client := newClient(t, p.URL, sdk.Config{})
	if _, err := client.Customers.List(context.Background(), nil); err != nil {
		t.Fatalf("after a 503: %v", err)
	}
	if n := len(p.seen()); n != 2 {
		t.Fatalf("%d attempts, want 2", n)
	}

	_, err := client.Customers.Get(context.Background(), "cus_01JGOSDK000000000000000000")
	if !sdk.IsCode(err, sdk.CodeCustomerNotFound) {
		t.Fatalf("got %v", err)
	}
	if n := len(p.seen()); n != 3 {
		t.Fatalf("%d attempts in all, want 3: a 404 is the hub's final answer", n)
	}
}

func TestNetworkErrorsAreRetriedUpToRetries(t *testing.T) {
	p := newProxy(t, func(n int, w http.ResponseWriter, r *http.Request, forward func(http.ResponseWriter)) bool {
		drop(t, w)
		return false
	})
	client := newClient(t, p.URL, sdk.Config{Retries: 2})
	_, err := client.Customers.Create(context.Background(), &sdk.CustomerInput{Email: uniqueEmail(t)})
	if e := hubError(t, err); e.Code != sdk.CodeNetworkError || e.Status != 0 || e.Err == nil {
		t.Fatalf("got %#v", e)
	}
	if n := len(p.seen()); n != 3 {
		t.Fatalf("%d attempts, want 3 (the first and 2 retries)", n)
	}

	// a write without a token (a sign-in) has no key: it is never sent twice
	_, err = client.Auth.Login(context.Background(), &sdk.LoginInput{Email: uniqueEmail(t), Password: "securePassword123"})
	if !sdk.IsCode(err, sdk.CodeNetworkError) {
		t.Fatalf("got %v", err)
	}
	if n := len(p.seen()); n != 4 {
		t.Fatalf("%d attempts in all, want 4: a sign-in is sent once", n)
	}
}

// stall is a server that reports each request it gets and answers none until the test ends.
func stall(t *testing.T) (string, <-chan struct{}) {
	t.Helper()
	got := make(chan struct{}, 16)
	done := make(chan struct{})
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	t.Cleanup(func() {
		close(done)
		server.Close()
	})
	return server.URL, got
}

func TestCancellingTheContextEndsTheCallWithTheContextsError(t *testing.T) {
	base, got := stall(t)
	client := newClient(t, base, sdk.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-got
		cancel()
	}()
	_, err := client.Customers.Create(ctx, &sdk.CustomerInput{Email: uniqueEmail(t)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if len(got) != 0 {
		t.Fatal("the call was sent again after its context ended")
	}
}

func TestACallThatGetsNoAnswerInTimeFailsWithTimeout(t *testing.T) {
	base, got := stall(t)
	client := newClient(t, base, sdk.Config{Retries: -1})
	_, err := client.Customers.Get(context.Background(), "cus_01JGOSDK000000000000000000", sdk.WithTimeout(50*time.Millisecond))
	if e := hubError(t, err); e.Code != sdk.CodeTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %#v", e)
	}
	if len(got) != 1 {
		t.Fatalf("%d attempts, want 1 with Retries -1", len(got))
	}
}

func TestALedgerTransactionGetsItsBodyKeyAndRunsOnce(t *testing.T) {
	base, _ := hub(t)
	client := newClient(t, base, sdk.Config{})
	ctx := context.Background()
	customer, err := client.Customers.Create(ctx, &sdk.CustomerInput{Email: uniqueEmail(t)})
	if err != nil {
		t.Fatal(err)
	}
	earn := &sdk.TransactionInput{Kind: "earn", CustomerID: customer.ID, Amount: 500, Reference: "welcome"}
	first, err := client.Loyalty.PostTransaction(ctx, "reward-points", earn, sdk.WithIdempotencyKey("go-welcome-"+customer.ID))
	if err != nil {
		t.Fatal(err)
	}
	again, err := client.Loyalty.PostTransaction(ctx, "reward-points", earn, sdk.WithIdempotencyKey("go-welcome-"+customer.ID))
	if err != nil {
		t.Fatal(err)
	}
	if earn.IdempotencyKey != "" {
		t.Fatal("the caller's body was changed")
	}
	if again.Transaction.ID != first.Transaction.ID {
		t.Fatalf("two transactions for one key: %s and %s", first.Transaction.ID, again.Transaction.ID)
	}
	// without a key of the caller's, each call is a new transaction
	if _, err := client.Loyalty.PostTransaction(ctx, "reward-points", earn); err != nil {
		t.Fatal(err)
	}
	accounts, err := client.Customers.ListRewardAccounts(ctx, customer.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(accounts.Data) != 1 || accounts.Data[0].Balance != 1000 {
		t.Fatalf("reward accounts %+v, want one holding 1000 points", accounts.Data)
	}
}

func TestNewClientRefusesABaseURLThatIsNotOne(t *testing.T) {
	for _, base := range []string{"", "127.0.0.1:1337", "ftp://hub", "http://hub/?x=1"} {
		if _, err := sdk.NewClient(sdk.Config{BaseURL: base}); err == nil {
			t.Errorf("NewClient took %q", base)
		}
	}
}

func TestAnswersThatAreNotARecord(t *testing.T) {
	base, _ := hub(t)
	client := newClient(t, base, sdk.Config{})
	ctx := context.Background()

	// a public route sends no token: a wrong one does not get in its way
	anonymous := newClient(t, base, sdk.Config{})
	anonymous.SetToken("chub_wrong")
	health, err := anonymous.Operations.Health(ctx)
	if err != nil || health.Status != "ok" || health.Database != "up" {
		t.Fatalf("health %+v, %v", health, err)
	}
	document, err := anonymous.Operations.OpenAPI(ctx)
	if err != nil || document["openapi"] != "3.1.0" {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	if _, err := anonymous.Customers.List(ctx, nil); !sdk.IsCode(err, sdk.CodeUnauthorized) {
		t.Fatalf("a wrong token: %v", err)
	}

	metrics, err := client.Operations.Metrics(ctx)
	if err != nil || !strings.Contains(metrics, "# TYPE") {
		t.Fatalf("metrics %q, %v", metrics, err)
	}

	customer, err := client.Customers.Create(ctx, &sdk.CustomerInput{Email: uniqueEmail(t)})
	if err != nil {
		t.Fatal(err)
	}
	page, err := client.Events.List(ctx, &sdk.EventListQuery{CustomerID: customer.ID, Type: []string{"customer.created"}, Wait: sdk.Ptr[int64](1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 1 || page.Data[0].Type != "customer.created" || *page.Data[0].CustomerID != customer.ID || page.NextAfter == "" {
		t.Fatalf("events %+v", page)
	}
}
