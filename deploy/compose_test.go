// Package deploy_test validates the deployment files.
package deploy_test

import (
	"context"
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
	for _, name := range []string{"postgres", "temporal-postgres", "temporal", "temporal-ui", "migrate", "worker", "api"} {
		if _, err := p.GetService(name); err != nil {
			t.Errorf("service %s: %v", name, err)
		}
	}
	api, _ := p.GetService("api")
	if api.DependsOn["migrate"].Condition != "service_completed_successfully" {
		t.Errorf("api should wait for the migrations")
	}
}

func load() (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"}, cli.WithWorkingDirectory(".."), cli.WithOsEnv, cli.WithConsistency(true))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}
