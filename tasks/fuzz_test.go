package tasks

import (
	"encoding/json"
	"testing"

	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/valid"
)

// FuzzTaskSpec feeds API request bodies of POST/PUT /api/v1/tasks through the API's decoder
// and the task validation: whatever the bytes, the answer is a config or field errors that
// name a field (the API's 400), never a panic or another error (a 500); and a config that
// passes shows (Redacted) as JSON.
func FuzzTaskSpec(f *testing.F) {
	for _, seed := range []string{
		`{"type":"http_call","name":"ping","config":{"url":"https://example.com","headers":[{"name":"X-Key","value":"v","secret":true}],"expected_status":[200,204]},"schedule":"@every 15m"}`,
		`{"type":"ldap_import","name":"dir","config":{"preset":"active_directory","urls":["ldaps://dc1.example.com:636"],"bind_dn":"cn=r","bind_password":"p","base_dn":"dc=example,dc=com","users":{"filter":"(objectClass=user)","attributes":{"email":"mail"}}}}`,
		`{"type":"qualys_vulnerabilities","name":"q","config":{"base_url":"https://qualysapi.qualys.eu","username":"u","password":"p","ip_ranges":["10.0.0.0/8","10.1.1.1-10.1.1.9"],"groups":["12"]},"schedule":"0 6 * * 1-5","timezone":"Europe/Berlin"}`,
		`{"type":"nexpose_assets","name":"n","config":{"base_url":"https://nexpose.example.com:3780","username":"u","password":"p"},"overlap_policy":"buffer_one","max_attempts":5}`,
		`{"type":"qualys_remediation","name":"r","config":{"base_url":"https://qualysapi.qualys.eu","username":"u","password":"p","close_on":"resolved","initial_days":30}}`,
		`{"type":"xml_assets","name":"x","config":{"file_id":"6f1c1b4e-9a57-4d55-9d0b-0a3b8d1b2c3d","preset":"nexpose_xml_2_assets"}}`,
		`{"type":"xml_events","name":"e","config":{"drop_glob":"events/*.xml","mapping":{"record":"/events/event","fields":[{"target":"title","xpath":"title"},{"target":"urgency","xpath":"@u","type":"integer","ranges":[{"min":0,"max":5,"value":3}]}]}}}`,
		`{"type":"sql_export","name":"s","config":{"connection":"warehouse","exports":[{"query":"Assets","table":"assets","mode":"incremental","key_columns":["id"]}]}}`,
		`{"type":"sql_script","name":"s","config":{"connection":"w","script":"SELECT 1; SELECT 2","tables":["a","b"]}}`,
		`{"type":"dashboard_service","name":"d","config":{"connection":"w"}}`,
		`{"type":"live_update","name":"l","config":{"source":"nvd","api_key":"k","results_per_page":2000}}`,
		`{"type":"http_call","name":"","config":{"url":"ftp://x"},"schedule":"61 * * * *","timezone":"Mars/Olympus"}`,
		`{"type":"nope","name":"x","config":{}}`,
		`{"type":"http_call","name":"x","config":null}`,
		`[]`, `{"type":`, `{"type":"http_call","name":"x","config":{"url":"https://e.test"},"unknown":1}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var spec Spec
		if err := valid.DecodeJSON("", body, &spec); err != nil {
			if _, ok := valid.FieldErrors(err); !ok {
				t.Fatalf("decode: %T %v is not a field error", err, err)
			}
			return
		}
		cfg, err := validate(spec)
		if err != nil {
			if _, ok := valid.FieldErrors(err); !ok {
				t.Fatalf("validate: %T %v is not a field error naming a field", err, err)
			}
			return
		}
		if _, err := json.Marshal(cfg.Redacted()); err != nil {
			t.Fatalf("a valid config does not show as JSON: %v", err)
		}
		if _, ok := tasktype.Lookup(spec.Type); !ok {
			t.Fatalf("unknown type %q passed validation", spec.Type)
		}
	})
}
