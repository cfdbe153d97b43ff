package tasktype

import (
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/tributary-io/tributary/valid"
)

// HTTPCall is the type name of the Execute HTTP Call task.
const HTTPCall = "http_call"

func init() {
	Register(Type{ConfigSchema: "HTTPCallConfig",
		Name:        HTTPCall,
		Activity:    "ExecuteHTTPCall",
		Title:       "Execute HTTP Call",
		Description: "Sends a GET or POST request to a configured URL and records the response status, size and an excerpt.",
		New: func() Config {
			return &HTTPCallConfig{Method: "GET", TimeoutSeconds: 30, ExcerptBytes: 2048}
		},
	})
}

// HTTPCallConfig configures an Execute HTTP Call task.
type HTTPCallConfig struct {
	// URL is the absolute http or https URL to call.
	URL string `json:"url" validate:"required,max=2048"`
	// Method is GET or POST. Optional; defaults to GET.
	Method string `json:"method" validate:"required,oneof=GET POST"`
	// Headers are sent with the request; secret ones are never shown by the API.
	Headers []HTTPHeader `json:"headers,omitempty" validate:"max=50,dive"`
	// Body is sent with a POST. Optional.
	Body string `json:"body,omitempty" validate:"max=262144"`
	// ExpectedStatus lists the status codes that count as success. Optional; empty means any 2xx.
	ExpectedStatus []int `json:"expected_status,omitempty" validate:"max=50,dive,min=100,max=599"`
	// TimeoutSeconds bounds one attempt of the request. Optional; defaults to 30.
	TimeoutSeconds int `json:"timeout_seconds" validate:"min=1,max=3600"`
	// ExcerptBytes is how much of the response body is kept in the run. Optional; defaults to 2048.
	ExcerptBytes int `json:"excerpt_bytes" validate:"min=0,max=65536"`
}

// HTTPHeader is one request header.
type HTTPHeader struct {
	Name   string `json:"name" validate:"required,max=256"`
	Value  string `json:"value,omitempty" validate:"max=8192"`
	Secret bool   `json:"secret,omitempty"`
}

// Validate implements Config.
func (c *HTTPCallConfig) Validate() []valid.FieldError {
	var out []valid.FieldError
	add := func(field, format string, args ...any) {
		out = append(out, valid.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		add("url", "is not a valid URL: %s", strings.TrimPrefix(err.Error(), "parse "))
	case u.Scheme != "http" && u.Scheme != "https":
		add("url", "must use http or https, not %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		add("url", "must be absolute and name a host")
	case u.User != nil:
		add("url", "must not carry credentials; use a secret Authorization header")
	}
	if c.Method == "GET" && c.Body != "" {
		add("body", "a GET request cannot carry a body; use POST")
	}
	seen := map[string]bool{}
	for i, h := range c.Headers {
		field := fmt.Sprintf("headers[%d]", i)
		if !httpguts.ValidHeaderFieldName(h.Name) {
			add(field+".name", "%q is not a valid HTTP header name", h.Name)
		}
		if !httpguts.ValidHeaderFieldValue(h.Value) {
			add(field+".value", "contains characters not allowed in an HTTP header")
		}
		key := strings.ToLower(h.Name)
		if seen[key] {
			add(field+".name", "header %q is given twice", h.Name)
		}
		seen[key] = true
		if key == "host" || key == "content-length" || key == "transfer-encoding" || key == "connection" {
			add(field+".name", "header %q is set by the HTTP client and cannot be configured", h.Name)
		}
	}
	return out
}

// Redacted implements Config: a secret header shows {"name", "secret": true, "value_set"}.
func (c *HTTPCallConfig) Redacted() any {
	type shownHeader struct {
		Name     string `json:"name"`
		Value    string `json:"value,omitempty"`
		Secret   bool   `json:"secret,omitempty"`
		ValueSet *bool  `json:"value_set,omitempty"`
	}
	type shown struct {
		HTTPCallConfig
		Headers []shownHeader `json:"headers,omitempty"`
	}
	s := shown{HTTPCallConfig: *c}
	for _, h := range c.Headers {
		sh := shownHeader{Name: h.Name, Value: h.Value, Secret: h.Secret}
		if h.Secret {
			set := h.Value != ""
			sh.Value, sh.ValueSet = "", &set
		}
		s.Headers = append(s.Headers, sh)
	}
	return s
}

// KeepSecrets implements Config: a secret header sent without a value keeps its stored value.
func (c *HTTPCallConfig) KeepSecrets(prev Config) {
	p, ok := prev.(*HTTPCallConfig)
	if !ok {
		return
	}
	old := map[string]string{}
	for _, h := range p.Headers {
		if h.Secret {
			old[strings.ToLower(h.Name)] = h.Value
		}
	}
	for i, h := range c.Headers {
		if h.Secret && h.Value == "" {
			c.Headers[i].Value = old[strings.ToLower(h.Name)]
		}
	}
}

// SecretFields implements Config: the values of secret headers.
func (c *HTTPCallConfig) SecretFields() []*string {
	var out []*string
	for i := range c.Headers {
		if c.Headers[i].Secret {
			out = append(out, &c.Headers[i].Value)
		}
	}
	return out
}

// Succeeded reports whether status counts as success for this call.
func (c *HTTPCallConfig) Succeeded(status int) bool {
	if len(c.ExpectedStatus) == 0 {
		return status >= 200 && status < 300
	}
	for _, s := range c.ExpectedStatus {
		if s == status {
			return true
		}
	}
	return false
}
