package qualys

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/orisano/gosax"

	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/xmlstream"
)

// benchDocument is one page of host detections from the simulator: hosts×10 detections.
func benchDocument(b *testing.B, hosts int) []byte {
	sim := qualyssim.New(qualyssim.Options{Seed: 1, AssetGroups: 1, HostsPerGroup: hosts, DetectionsPerHost: 10})
	defer sim.Close()
	req, _ := http.NewRequest(http.MethodGet, sim.URL+PathDetections+"?action=list&show_results=1&truncation_limit=1000000", nil)
	req.SetBasicAuth("sim", "sim-password")
	req.Header.Set("X-Requested-With", "bench")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatal(resp.Status, err)
	}
	return doc
}

// BenchmarkParse reads one detections document (10,000 detections) with each reader:
// encoding/xml as the client read it before, the bare gosax tokenizer (the floor), the
// checked stream reader token by token, and the client's whole parse into detection
// elements.
func BenchmarkParse(b *testing.B) {
	doc := benchDocument(b, 1000)
	b.Run("encoding-xml", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, items, err := refList(doc, "HOST", func() any { return &xmlHost{} }); err != nil || len(items) != 1000 {
				b.Fatal(err, len(items))
			}
		}
	})
	b.Run("gosax", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			r := gosax.NewReader(bytes.NewReader(doc))
			for {
				ev, err := r.Event()
				if err != nil {
					b.Fatal(err)
				}
				if ev.Type() == gosax.EventEOF {
					break
				}
			}
		}
	})
	b.Run("xmlstream-tokens", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			r := xmlstream.NewReader(bytes.NewReader(doc), xmlstream.Options{})
			for {
				k, err := r.Next()
				if err != nil {
					b.Fatal(err)
				}
				if k == xmlstream.EOF {
					break
				}
			}
		}
	})
	b.Run("client", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		for b.Loop() {
			if _, items, err := ourList(doc, "HOST", func() any { return &xmlHost{} }); err != nil || len(items) != 1000 {
				b.Fatal(err, len(items))
			}
		}
	})
}
