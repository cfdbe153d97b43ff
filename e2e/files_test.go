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
