package connectortype_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/connectortype"
)

func TestDecode(t *testing.T) {
	ok := `{"username": "u", "password": "p"}`
	cases := []struct {
		tool, base, cfg string
		creating        bool
		field           string // "" when valid
	}{
		{"qualys", "https://qualysapi.qualys.com", ok, true, ""},
		{"nexpose", "https://nexpose.example.com:3780", ok, true, ""},
		{"qualys", "https://qualysapi.qualys.com", `{"username": "u"}`, false, ""},
		{"qualys", "https://qualysapi.qualys.com", `{"username": "u"}`, true, "config.password"},
		{"qualys", "http://qualysapi.qualys.com", ok, true, "base_url"},
		{"qualys", "http://127.0.0.1:8080", `{"username": "u", "password": "p", "allow_plaintext_http": true}`, true, ""},
		{"qualys", "https://u:p@qualysapi.qualys.com", ok, true, "base_url"},
		{"qualys", "ftp://qualysapi.qualys.com", ok, true, "base_url"},
		{"qualys", "qualysapi.qualys.com", ok, true, "base_url"},
		{"qualys", "https://qualysapi.qualys.com/?x=1", ok, true, "base_url"},
		{"nexpose", "https://nexpose.example.com", `{"username": "u", "password": "p", "page_size": 1000}`, true, "config.page_size"},
		{"qualys", "https://qualysapi.qualys.com", `{"username": "u", "password": "p", "page_size": 1000}`, true, ""},
		{"qualys", "https://qualysapi.qualys.com", `{"password": "p"}`, true, "config.username"},
		{"qualys", "https://qualysapi.qualys.com", `{"username": "u", "password": "p", "token": "x"}`, true, "config.token"},
		{"nessus", "https://nessus.example.com", ok, true, "tool_type"},
	}
	for _, c := range cases {
		_, err := connectortype.Decode(c.tool, c.base, []byte(c.cfg), c.creating)
		switch {
		case c.field == "" && err != nil:
			t.Errorf("%s %s %s: %v", c.tool, c.base, c.cfg, err)
		case c.field != "" && (err == nil || !strings.Contains(err.Error(), c.field)):
			t.Errorf("%s %s %s: err = %v, want one about %s", c.tool, c.base, c.cfg, err, c.field)
		}
	}
}

func TestRedactedAndKeepSecrets(t *testing.T) {
	c := &connectortype.Config{Username: "u", Password: "enc:v1:k:abc"}
	shown := c.Redacted()
	if s := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(fmtJSON(t, shown), " ", ""), "\n", "")); strings.Contains(s, "enc:v1") || !strings.Contains(s, `"password_set":true`) {
		t.Fatalf("redacted = %s", s)
	}
	next := &connectortype.Config{Username: "u"}
	next.KeepSecrets(c)
	if next.Password != c.Password {
		t.Fatal("the password was not kept for the same username")
	}
	other := &connectortype.Config{Username: "v"}
	other.KeepSecrets(c)
	if other.Password != "" {
		t.Fatal("the password was kept for another username")
	}
}

func fmtJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Qualys detection types are validated with their path; none means confirmed and potential.
func TestDetectionTypes(t *testing.T) {
	_, err := connectortype.Decode("qualys", "https://q.example", json.RawMessage(`{"username":"u","password":"p","detection_types":["confirmed","bogus"]}`), true)
	if err == nil || !strings.Contains(err.Error(), "config.detection_types[1]: must be one of: confirmed, potential, info") {
		t.Fatalf("bad type: %v", err)
	}
	cfg, err := connectortype.Decode("qualys", "https://q.example", json.RawMessage(`{"username":"u","password":"p","detection_types":["info"]}`), true)
	if err != nil || len(cfg.DetectionTypes) != 1 {
		t.Fatalf("info: %+v %v", cfg, err)
	}
}
