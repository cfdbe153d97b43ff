package connectors

import (
	"testing"

	"github.com/tributary-io/tributary/valid"
)

// FuzzConnectorSpec feeds API request bodies of POST/PUT /api/v1/connectors through the API's
// decoder and the connector validation (create and update): field errors or a config, never
// a panic or another error.
func FuzzConnectorSpec(f *testing.F) {
	for _, seed := range []string{
		`{"tool_type":"qualys","name":"Qualys EU","base_url":"https://qualysapi.qualys.eu","config":{"username":"u","password":"p","detection_types":["confirmed","info"],"page_size":1000},"sync_schedule":"0 7 * * *","timezone":"UTC"}`,
		`{"tool_type":"nexpose","name":"NX","base_url":"https://nexpose.example.com:3780","config":{"username":"u","password":"p","page_size":500}}`,
		`{"tool_type":"nexpose","name":"NX","base_url":"http://10.0.0.1:3780","config":{"username":"u","allow_plaintext_http":true,"detection_types":["info"]}}`,
		`{"tool_type":"qualys","name":"","base_url":"qualysapi","config":{"username":""},"discover_schedule":"@every 1s"}`,
		`{"tool_type":"other","name":"x","base_url":"https://x","config":{}}`, `{}`, `null`, `{"config":[]}`,
	} {
		f.Add([]byte(seed), true)
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, creating bool) {
		var spec Spec
		if err := valid.DecodeJSON("", body, &spec); err != nil {
			if _, ok := valid.FieldErrors(err); !ok {
				t.Fatalf("decode: %T %v is not a field error", err, err)
			}
			return
		}
		cfg, err := validate(spec, creating)
		if err != nil {
			if _, ok := valid.FieldErrors(err); !ok {
				t.Fatalf("validate: %T %v is not a field error", err, err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("no error and no config")
		}
	})
}
