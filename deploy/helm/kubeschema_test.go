package helm

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// kubeRelease is a Kubernetes release whose published OpenAPI v3 documents
// (api/openapi-spec/v3 in the kubernetes repository) the manifests are validated against. The
// documents come from the Go module proxy as module k8s.io/kubernetes, pinned by its hash, so
// the test needs no cluster and no other download site.
type kubeRelease struct {
	Version string // a k8s.io/kubernetes module version
	Sum     string // its go.sum hash
}

// The oldest release the chart supports (Chart.yaml kubeVersion) and the newest one.
var kubeReleases = []kubeRelease{
	{"v1.29.6", "h1:jn8kA/oVOAWZOeoorx6xZ4d+KgGp+Evgi90x9bEI/DE="},
	{"v1.37.2", "h1:A2VDEiObzkYqFTKhSsn0ZEb0RlLEXpHWj93gi2HqEwE="},
}

// kubeSchemas is one release's schemas, by apiVersion and kind.
type kubeSchemas struct {
	release kubeRelease
	dir     string
	mu      sync.Mutex
	docs    map[string]*openapi3.T // by apiVersion
}

var (
	schemasMu sync.Mutex
	schemas   = map[string]*kubeSchemas{}
)

// schemasFor downloads (or finds in the module cache) one release's OpenAPI documents.
func schemasFor(t *testing.T, r kubeRelease) *kubeSchemas {
	t.Helper()
	schemasMu.Lock()
	defer schemasMu.Unlock()
	if s, ok := schemas[r.Version]; ok {
		return s
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "mod", "download", "-json", "k8s.io/kubernetes@"+r.Version)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	var info struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || info.Error != "" || err != nil {
		t.Fatalf("download the Kubernetes %s OpenAPI documents (k8s.io/kubernetes from the Go module proxy): %v %s %s", r.Version, err, info.Error, out)
	}
	if info.Sum != r.Sum {
		t.Fatalf("k8s.io/kubernetes@%s has hash %s, want %s", r.Version, info.Sum, r.Sum)
	}
	s := &kubeSchemas{release: r, dir: filepath.Join(info.Dir, "api", "openapi-spec", "v3"), docs: map[string]*openapi3.T{}}
	schemas[r.Version] = s
	return s
}

// schema returns the schema of apiVersion/kind, made strict: an object with declared
// properties takes no others, as the API server's strict field validation refuses them.
func (s *kubeSchemas) schema(apiVersion, kind string) (*openapi3.Schema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	doc, ok := s.docs[apiVersion]
	if !ok {
		file := "api__v1_openapi.json"
		if strings.Contains(apiVersion, "/") {
			file = "apis__" + strings.ReplaceAll(apiVersion, "/", "__") + "_openapi.json"
		}
		b, err := os.ReadFile(filepath.Join(s.dir, file))
		if err != nil {
			return nil, fmt.Errorf("Kubernetes %s serves no API %s", s.release.Version, apiVersion)
		}
		doc, err = openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
		seen := map[*openapi3.Schema]bool{}
		for _, ref := range doc.Components.Schemas {
			strict(ref, seen)
		}
		s.docs[apiVersion] = doc
	}
	group, version, _ := strings.Cut(apiVersion, "/")
	if version == "" {
		group, version = "", apiVersion
	}
	for _, ref := range doc.Components.Schemas {
		gvks, _ := ref.Value.Extensions["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			m, _ := g.(map[string]any)
			if m["group"] == group && m["version"] == version && m["kind"] == kind {
				return ref.Value, nil
			}
		}
	}
	return nil, fmt.Errorf("Kubernetes %s has no kind %s in %s", s.release.Version, kind, apiVersion)
}

func strict(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Value == nil || seen[ref.Value] {
		return
	}
	s := ref.Value
	seen[s] = true
	if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil &&
		s.Extensions["x-kubernetes-preserve-unknown-fields"] != true {
		no := false
		s.AdditionalProperties.Has = &no
	}
	for _, p := range s.Properties {
		strict(p, seen)
	}
	for _, list := range [][]*openapi3.SchemaRef{s.AllOf, s.AnyOf, s.OneOf} {
		for _, r := range list {
			strict(r, seen)
		}
	}
	strict(s.Items, seen)
	strict(s.AdditionalProperties.Schema, seen)
}

// validate checks one manifest (decoded JSON) against its kind's schema.
func (s *kubeSchemas) validate(obj map[string]any) error {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if apiVersion == "" || kind == "" {
		return fmt.Errorf("a manifest without apiVersion or kind")
	}
	sc, err := s.schema(apiVersion, kind)
	if err != nil {
		return err
	}
	return sc.VisitJSON(obj, openapi3.MultiErrors())
}
