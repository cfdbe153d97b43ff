package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/auth"
)

type fileView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	Existed bool   `json:"existed"`
}

// Files for the XML imports through the API: an upload is stored with its size and SHA-256
// and reads back byte for byte; the same bytes again answer the stored file; an upload over
// the limit, of another type or without a name stores nothing; viewers read, operators upload.
func TestFileUploads(t *testing.T) {
	s := newStack(t, stackOptions{maxUploadBytes: 3 << 20})
	operator, viewer := s.newToken("uploader", auth.Operator), s.newToken("reader", auth.Viewer)
	body := []byte(`<?xml version="1.0" encoding="UTF-8"?><NexposeReport version="2.0"><nodes>` + strings.Repeat(`<node address="10.0.0.1"/>`, 100_000) + `</nodes></NexposeReport>`)
	sum := sha256.Sum256(body)
	r := s.send(operator, "POST", "/api/v1/files?name=export.xml", "application/xml", bytes.NewReader(body))
	if r.status != http.StatusCreated {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	var f fileView
	r.decode(t, &f)
	if f.Size != int64(len(body)) || f.SHA256 != hex.EncodeToString(sum[:]) || f.Name != "export.xml" || f.Existed {
		t.Fatalf("file %+v", f)
	}
	back := s.send(viewer, "GET", "/api/v1/files/"+f.ID+"/content", "", nil)
	if back.status != http.StatusOK || !bytes.Equal(back.body, body) {
		t.Fatalf("content: %d, %d bytes", back.status, len(back.body))
	}
	again := s.send(operator, "POST", "/api/v1/files?name=copy.xml", "text/xml", bytes.NewReader(body))
	var g fileView
	again.decode(t, &g)
	if again.status != http.StatusOK || g.ID != f.ID || !g.Existed {
		t.Fatalf("same bytes again: %d %+v", again.status, g)
	}
	for _, bad := range []struct {
		path, ct string
		body     []byte
		want     int
	}{
		{"/api/v1/files?name=big.xml", "application/xml", bytes.Repeat([]byte("x"), 3<<20+1), http.StatusRequestEntityTooLarge},
		{"/api/v1/files?name=a.json", "application/json", []byte(`{}`), http.StatusUnsupportedMediaType},
		{"/api/v1/files", "application/xml", []byte(`<a/>`), http.StatusBadRequest},
		{"/api/v1/files?name=../etc/passwd", "application/xml", []byte(`<a/>`), http.StatusBadRequest},
		{"/api/v1/files?name=a.xml&folder=x", "application/xml", []byte(`<a/>`), http.StatusBadRequest},
	} {
		if r := s.send(operator, "POST", bad.path, bad.ct, bytes.NewReader(bad.body)); r.status != bad.want {
			t.Fatalf("%s %s: %d %s", bad.path, bad.ct, r.status, r.body)
		}
	}
	if r := s.send(viewer, "POST", "/api/v1/files?name=v.xml", "application/xml", strings.NewReader("<a/>")); r.status != http.StatusForbidden {
		t.Fatalf("a viewer uploaded: %d", r.status)
	}
	var list struct {
		Items []fileView `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/files", nil, &list)
	if len(list.Items) != 1 {
		t.Fatalf("files after refused uploads: %+v", list.Items)
	}
	s.must(http.StatusNoContent, "DELETE", "/api/v1/files/"+f.ID, nil, nil)
	if r := s.do("GET", "/api/v1/files/"+f.ID, nil); r.status != http.StatusNotFound {
		t.Fatalf("deleted file: %d", r.status)
	}
	var chunks int
	if err := s.store.DB.NewRaw("SELECT count(*) FROM import_file_chunks").Scan(ctxTimeout(t, 10*time.Second), &chunks); err != nil || chunks != 0 {
		t.Fatalf("chunks left: %d %v", chunks, err)
	}
}

// The preview maps the first records of an uploaded file with a mapping and stores nothing:
// values and per-record errors, mapping errors named under "mapping", a file problem reported
// with the records read before it.
func TestXMLPreview(t *testing.T) {
	s := newStack(t, stackOptions{})
	doc := `<?xml version="1.0" encoding="ISO-8859-1"?><NexposeReport version="2.0"><nodes>` +
		`<node address="10.0.0.5" device-id="31" risk-score="8123.5"><names><name>web01</name></names></node>` +
		`<node address="10.0.0.6" risk-score="12"><names><name>M` + "\xfc" + `ller-PC</name></names></node>` +
		`<node address="10.0.0.7" device-id="33" risk-score="900"/></nodes></NexposeReport>`
	var f fileView
	r := s.send(s.token, "POST", "/api/v1/files?name=export.xml", "application/xml", strings.NewReader(doc))
	r.decode(t, &f)
	mapping := map[string]any{"record": "/NexposeReport/nodes/node", "fields": []map[string]any{
		{"target": "id", "xpath": "@device-id"},
		{"target": "name", "xpath": "names/name[1]", "default": "(unnamed)"},
		{"target": "host_address", "xpath": "@address"},
		{"target": "relevance", "xpath": "@risk-score div 1000", "ranges": []map[string]any{{"min": 0, "max": 5, "value": 2}, {"min": 5.0001, "max": 100, "value": 5}}},
	}}
	var out struct {
		Records []struct {
			Number int            `json:"number"`
			Values map[string]any `json:"values"`
			Errors []struct {
				Target  string `json:"target"`
				Message string `json:"message"`
			} `json:"errors"`
		} `json:"records"`
		Targets   []string `json:"targets"`
		FileError *struct {
			Message string `json:"message"`
		} `json:"file_error"`
	}
	s.must(http.StatusOK, "POST", "/api/v1/xml-imports/preview", map[string]any{"file_id": f.ID, "kind": "assets", "mapping": mapping, "limit": 2}, &out)
	if len(out.Records) != 2 || out.Records[0].Values["name"] != "web01" || out.Records[0].Values["relevance"] != float64(5) ||
		len(out.Records[1].Errors) != 1 || out.Records[1].Errors[0].Target != "id" || out.Records[1].Values["name"] != "Müller-PC" || out.FileError != nil {
		t.Fatalf("preview %+v", out)
	}
	bad := map[string]any{"record": "/NexposeReport/nodes/node", "fields": []map[string]any{{"target": "id", "xpath": "@device-id["}}}
	r = s.do("POST", "/api/v1/xml-imports/preview", map[string]any{"file_id": f.ID, "kind": "assets", "mapping": bad})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "mapping.fields[0].xpath") || !strings.Contains(string(r.body), "name is required") {
		t.Fatalf("bad mapping: %d %s", r.status, r.body)
	}
	r = s.do("POST", "/api/v1/xml-imports/preview", map[string]any{"file_id": "4b7e1f9c-6f0e-4f4e-9a57-0a9d8f4b2c11", "kind": "assets", "mapping": mapping})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "file_id") {
		t.Fatalf("unknown file: %d %s", r.status, r.body)
	}
	var cut fileView
	s.send(s.token, "POST", "/api/v1/files?name=cut.xml", "application/xml", strings.NewReader(doc[:len(doc)-60])).decode(t, &cut)
	s.must(http.StatusOK, "POST", "/api/v1/xml-imports/preview", map[string]any{"file_id": cut.ID, "kind": "assets", "mapping": mapping}, &out)
	if len(out.Records) != 2 || out.FileError == nil || !strings.Contains(out.FileError.Message, "truncated") {
		t.Fatalf("cut file: %+v", out)
	}
}
