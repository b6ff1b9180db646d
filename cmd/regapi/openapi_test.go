package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/regapi/regapi/internal/httpapi"
)

// The end-to-end tests check every request they send, and every response they get, against the
// OpenAPI document the service serves: the document cannot drift from what the service does.

// apiContract is the served OpenAPI document, ready to validate exchanges with.
type apiContract struct {
	doc    *openapi3.T
	router routers.Router
	// unrouted describes the answers to a request for no documented operation.
	unrouted *openapi3.Operation
}

// loadContract parses and checks the document once for the whole package.
var loadContract = sync.OnceValues(func() (*apiContract, error) {
	// The documentation page's text files are checked as strings, as text/plain is.
	for _, ct := range []string{"text/html", "text/css", "text/javascript"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(httpapi.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("load openapi.yaml: %w", err)
	}
	// The document's one server is "/", relative to wherever it is served; routes are matched
	// on the path alone.
	doc.Servers = nil
	router, err := legacy.NewRouter(doc, openapi3.EnableExamplesValidation())
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	notFound, methodNotAllowed := doc.Components.Responses["NotFound"], doc.Components.Responses["MethodNotAllowed"]
	if notFound == nil || methodNotAllowed == nil {
		return nil, errors.New("openapi.yaml lacks components/responses NotFound or MethodNotAllowed")
	}
	unrouted := openapi3.NewOperation()
	unrouted.Responses = openapi3.NewResponses(
		openapi3.WithStatus(http.StatusNotFound, notFound),
		openapi3.WithStatus(http.StatusMethodNotAllowed, methodNotAllowed),
	)
	return &apiContract{doc: doc, router: router, unrouted: unrouted}, nil
})

// acceptAnyCredentials leaves credentials to the service: the document only says which
// operations take Basic Auth, and a wrong password is part of what the tests exchange.
func acceptAnyCredentials(context.Context, *openapi3filter.AuthenticationInput) error { return nil }

// checkExchange fails t unless the exchange agrees with the document (see apiContract.check).
func checkExchange(t *testing.T, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	t.Helper()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.check(req, reqBody, resp.StatusCode, resp.Header, respBody); err != nil {
		t.Fatalf("drift between the service and openapi.yaml: %v", err)
	}
}

// check returns an error unless the exchange agrees with the document:
//   - a request for an operation the document lacks is answered as its NotFound or
//     MethodNotAllowed responses say;
//   - a request the document calls invalid is refused with a 4xx;
//   - every response, whatever its request, has a status the operation lists, and headers and
//     a body that match it.
func (c *apiContract) check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) error {
	what := req.Method + " " + req.URL.Path
	ctx := context.Background()
	input := &openapi3filter.RequestValidationInput{
		Request: cloneWithBody(req, reqBody),
		Options: &openapi3filter.Options{AuthenticationFunc: acceptAnyCredentials, MultiError: true},
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s is not in the document (%v) but was answered %d", what, err, status)
		}
		input.Route = &routers.Route{Spec: c.doc, Path: req.URL.Path, Method: req.Method, Operation: c.unrouted}
	} else {
		input.Route, input.PathParams = route, params
		if err := openapi3filter.ValidateRequest(ctx, input); err != nil && status < 400 {
			return fmt.Errorf("the document calls the request %s %s invalid, but the service answered %d: %w",
				what, reqBody, status, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: input,
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(respBody)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("the response to %s is not what the document describes: %w\nstatus %d, headers %v\nbody %s",
			what, err, status, header, respBody)
	}
	return nil
}

// cloneWithBody returns a copy of req whose body reads body again.
func cloneWithBody(req *http.Request, body []byte) *http.Request {
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r
}

// TestContractCheckCatchesDrift shows that the check the end-to-end tests rely on fails on
// answers the document does not describe, and passes the ones it does.
func TestContractCheckCatchesDrift(t *testing.T) {
	t.Parallel()
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	const user = `{"id":"4b1d6f0e-8f5a-4c1e-9d2b-6a7c8e9f0a1b","email":"a@example.com","status":"pending",` +
		`"created_at":"2025-03-04T05:06:07Z","activated_at":null}`
	const register = `{"email":"a@example.com","password":"password-1234"}`
	problem := func(status int, code string) string {
		return fmt.Sprintf(`{"type":"urn:regapi:problem:%s","title":"t","status":%d,"detail":"d","code":%q}`, code, status, code)
	}
	created := http.Header{"Content-Type": {"application/json"}, "Location": {"/v1/users/me"}}
	problemHeader := http.Header{"Content-Type": {"application/problem+json"}}
	tests := []struct {
		name, method, path, reqBody string
		status                      int
		header                      http.Header
		respBody                    string
		drift                       bool
	}{
		{"described 201", "POST", "/v1/users", register, 201, created, user, false},
		{"described 409", "POST", "/v1/users", register, 409, problemHeader, problem(409, "email_taken"), false},
		{"invalid request refused", "POST", "/v1/users", `{"email":1}`, 400, problemHeader, problem(400, "malformed_request"), false},
		{"unknown path answered 404", "GET", "/nope", "", 404, problemHeader, problem(404, "not_found"), false},
		{"undocumented status", "POST", "/v1/users", register, 418, problemHeader, problem(418, "email_taken"), true},
		{"undocumented problem code", "POST", "/v1/users", register, 409, problemHeader, problem(409, "already_active"), true},
		{"body missing a member", "POST", "/v1/users", register, 201, created, `{"id":"4b1d6f0e-8f5a-4c1e-9d2b-6a7c8e9f0a1b"}`, true},
		{"required header missing", "POST", "/v1/users", register, 201, http.Header{"Content-Type": {"application/json"}}, user, true},
		{"undocumented media type", "POST", "/v1/users", register, 409, http.Header{"Content-Type": {"text/plain"}}, "taken", true},
		{"invalid request accepted", "POST", "/v1/users/me/activate", `{"code":"12345"}`, 200, http.Header{"Content-Type": {"application/json"}}, user, true},
		{"undocumented path answered", "GET", "/v1/admin", "", 200, http.Header{"Content-Type": {"application/json"}}, `{}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://127.0.0.1:8080"+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.reqBody != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			err = c.check(req, []byte(tt.reqBody), tt.status, tt.header, []byte(tt.respBody))
			if (err != nil) != tt.drift {
				t.Fatalf("check = %v, want drift %v", err, tt.drift)
			}
		})
	}
}
