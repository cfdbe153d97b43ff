// Package deploy_test validates the deployment files.
package deploy_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// docker-compose.yml is a valid Compose project (what `docker compose config` checks), with
// the services the README describes.
func TestComposeFileIsValid(t *testing.T) {
	t.Setenv("TRIBUTARY_SECRET_KEYS", "")
	if _, err := load(); err == nil {
		t.Fatal("the stack should refuse to start without TRIBUTARY_SECRET_KEYS")
	}
	t.Setenv("TRIBUTARY_SECRET_KEYS", "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	p, err := load()
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, name := range []string{"postgres", "temporal-postgres", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "migrate", "worker", "api"} {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}
	for _, name := range []string{"api", "worker"} {
		svc, _ := p.GetService(name)
		if svc.DependsOn["migrate"].Condition != "service_completed_successfully" || svc.DependsOn["temporal-namespace"].Condition != "service_completed_successfully" {
			t.Errorf("%s should wait for the migrations and the Temporal namespace: %+v", name, svc.DependsOn)
		}
	}
	// Temporal's production images, at the versions the dev stack embeds.
	server, ui := goModVersion(t, "go.temporal.io/server"), goModVersion(t, "github.com/temporalio/ui-server/v2")
	for name, want := range map[string]string{"temporal": "temporalio/server:" + server, "temporal-schema": "temporalio/admin-tools:" + server,
		"temporal-namespace": "temporalio/admin-tools:" + server, "temporal-ui": "temporalio/ui:" + ui} {
		if svc, _ := p.GetService(name); svc.Image != want {
			t.Errorf("%s runs %s, want %s", name, svc.Image, want)
		}
	}
	if svc, _ := p.GetService("temporal"); svc.DependsOn["temporal-schema"].Condition != "service_completed_successfully" {
		t.Errorf("the Temporal server should wait for its schema")
	}
}

// goModVersion is the version go.mod requires of module, without its "v".
func goModVersion(t *testing.T, module string) string {
	t.Helper()
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == module {
			return strings.TrimPrefix(f[1], "v")
		}
	}
	t.Fatalf("go.mod does not require %s", module)
	return ""
}

func load() (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"}, cli.WithWorkingDirectory(".."), cli.WithOsEnv, cli.WithConsistency(true))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}
