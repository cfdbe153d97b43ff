package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestOperation(t *testing.T) {
	for url, want := range map[string]string{
		"https://q.example/api/2.0/fo/asset/host/vm/detection/?action=list&ids=1,2": "/api/2.0/fo/asset/host/vm/detection/?action=list",
		"https://n.example/api/3/sites/12/assets?page=3":                            "/api/3/sites/:id/assets",
		"https://n.example/api/3/assets/0b7b1c0e-9d1e-4e55-9a55-3d8f5f1b0a11":       "/api/3/assets/:id",
		"https://services.nvd.nist.gov/rest/json/cves/2.0?startIndex=2000":          "/rest/json/cves/2.0",
		"https://x.example/v1/" + strings.Repeat("a", 50):                           "/v1/:id",
	} {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if got := Operation(req); got != want {
			t.Errorf("%s: %q, want %q", url, got, want)
		}
	}
}

// The vendor transport counts requests by outcome, the vendor sleep counts waits; a nil
// registry changes nothing.
func TestVendorCounting(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	r := New()
	c := &http.Client{Transport: r.VendorTransport(nil, "qualys")}
	for _, p := range []string{"/ok", "/busy", "/busy"} {
		resp, err := c.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := c.Get("http://127.0.0.1:1/x"); err == nil {
		t.Fatal("no error from a closed port")
	}
	for labels, want := range map[[2]string]float64{{"/busy", "429"}: 2, {"/ok", "2xx"}: 1, {"/x", "error"}: 1} {
		if got := testutil.ToFloat64(r.vendorRequests.WithLabelValues("qualys", labels[0], labels[1])); got != want {
			t.Errorf("%v: %v, want %v", labels, got, want)
		}
	}
	slept := time.Duration(0)
	sleep := r.VendorSleep(func(_ context.Context, d time.Duration) error { slept += d; return nil }, "nvd")
	_ = sleep(context.Background(), 2*time.Second)
	if testutil.ToFloat64(r.vendorWaits.WithLabelValues("nvd")) != 1 || testutil.ToFloat64(r.vendorWaitSecs.WithLabelValues("nvd")) != 2 || slept != 2*time.Second {
		t.Error("the wait was not counted or not made")
	}
	var none *Registry
	if none.VendorTransport(http.DefaultTransport, "x") != http.DefaultTransport {
		t.Error("a nil registry wraps the transport")
	}
}
