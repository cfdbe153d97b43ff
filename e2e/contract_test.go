package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tributary-io/tributary/server"
)

var (
	docOnce   sync.Once
	docRouter routers.Router
	docErr    error
)

// checkContract validates every response the tests receive against the OpenAPI document.
func checkContract(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	docOnce.Do(func() {
		var doc *openapi3.T
		doc, docErr = parseDoc()
		if docErr != nil {
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			docErr = err
			return
		}
		doc.Servers = nil
		docRouter, docErr = gorillamux.NewRouter(doc)
	})
	if docErr != nil {
		t.Fatalf("OpenAPI document: %v", docErr)
	}
	// Match against a request without the test server's host.
	r := req.Clone(context.Background())
	r.URL.Scheme, r.URL.Host, r.Host = "", "", ""
	route, params, err := docRouter.FindRoute(r)
	if err != nil {
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			return // requests to routes that do not exist are not part of the contract
		}
		t.Fatalf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route,
		Options: &openapi3filter.Options{ExcludeRequestBody: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge || resp.StatusCode == http.StatusUnsupportedMediaType ||
		strings.HasPrefix(resp.Header.Get("Content-Type"), "application/yaml") {
		if _, ok := route.Operation.Responses.Map()[strconv.Itoa(resp.StatusCode)]; !ok && resp.StatusCode >= 400 {
			t.Fatalf("%s %s answered %d, which the OpenAPI document does not list", req.Method, req.URL.Path, resp.StatusCode)
		}
		return
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("%s %s: response %d does not match the OpenAPI document: %v\nbody: %s", req.Method, req.URL.Path, resp.StatusCode, err, body)
	}
}

func parseDoc() (*openapi3.T, error) {
	return openapi3.NewLoader().LoadFromData(server.OpenAPIDocument())
}

func loadDoc(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := parseDoc()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}
