package activities

import (
	"strings"
	"testing"
)

func TestDisplayURLHidesQueryAndCredentials(t *testing.T) {
	got := displayURL("https://user:pw@api.example.test/v1/ping?token=s3cret#frag")
	if strings.Contains(got, "s3cret") || strings.Contains(got, "pw") || got != "https://api.example.test/v1/ping?…" {
		t.Fatalf("displayURL = %q", got)
	}
}

func TestBoundedBufferKeepsValidUTF8WithoutNUL(t *testing.T) {
	b := &boundedBuffer{limit: 5}
	b.Write([]byte("ab\x00"))
	b.Write([]byte("cdef"))
	if !b.truncated || b.String() != "ab\uFFFDcd" {
		t.Fatalf("excerpt %q truncated=%v", b.String(), b.truncated)
	}
	b = &boundedBuffer{limit: 3}
	b.Write([]byte("aé"))
	b.Write([]byte("x"))
	if b.String() != "aé" || !b.truncated {
		t.Fatalf("excerpt %q", b.String())
	}
}
