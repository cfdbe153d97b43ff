package tasktype

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/valid"
)

func TestHTTPCallDefaultsAndRedaction(t *testing.T) {
	cfg, err := Decode(HTTPCall, json.RawMessage(`{"url":"https://e.test/a","headers":[{"name":"Authorization","value":"Bearer t0k","secret":true},{"name":"X-A","value":"1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*HTTPCallConfig)
	if c.Method != "GET" || c.TimeoutSeconds != 30 || c.ExcerptBytes != 2048 {
		t.Fatalf("defaults: %+v", c)
	}
	shown, err := json.Marshal(cfg.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(shown), "t0k") || !strings.Contains(string(shown), `"value_set":true`) || !strings.Contains(string(shown), `"value":"1"`) {
		t.Fatalf("redacted: %s", shown)
	}
	if !c.Succeeded(204) || c.Succeeded(301) {
		t.Fatal("default success is any 2xx")
	}
	c.ExpectedStatus = []int{301}
	if !c.Succeeded(301) || c.Succeeded(200) {
		t.Fatal("expected_status should replace the 2xx rule")
	}
}

func TestHTTPCallKeepSecrets(t *testing.T) {
	prev, _ := Decode(HTTPCall, json.RawMessage(`{"url":"https://e.test","headers":[{"name":"X-Key","value":"old","secret":true}]}`))
	next, _ := Decode(HTTPCall, json.RawMessage(`{"url":"https://e.test","headers":[{"name":"x-key","secret":true}]}`))
	next.KeepSecrets(prev)
	if v := next.(*HTTPCallConfig).Headers[0].Value; v != "old" {
		t.Fatalf("kept value %q", v)
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	for raw, field := range map[string]string{
		`{"url":"https://e.test","method":"PUT"}`:                          "config.method",
		`{"url":"mailto:a@b.c"}`:                                           "config.url",
		`{"url":"https://e.test","headers":[{"name":""}]}`:                 "config.headers[0].name",
		`{"url":"https://e.test","headers":[{"name":"Host","value":"x"}]}`: "config.headers[0].name",
		`{"url":"https://e.test","timeout_seconds":"10"}`:                  "config.timeout_seconds",
		`{"url":"https://e.test"`:                                          "config",
		`null`:                                                             "config",
	} {
		_, err := Decode(HTTPCall, json.RawMessage(raw))
		var ve *valid.Error
		if !errors.As(err, &ve) || ve.Fields[0].Field != field {
			t.Errorf("%s: got %v, want a problem with %s", raw, err, field)
		}
	}
	if _, err := Decode("nope", json.RawMessage(`{}`)); err == nil || !strings.Contains(err.Error(), "unknown task type") {
		t.Fatalf("unknown type: %v", err)
	}
}
