// Package cmd_test checks what the binaries link.
package cmd_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The production binaries must not link the Temporal server, the test support code or the
// development stack; only tributary-dev embeds the server.
func TestProductionBinariesDoNotLinkServerOrTestCode(t *testing.T) {
	forbidden := []string{
		"go.temporal.io/server/",
		"github.com/tributary-io/tributary/internal/testenv",
		"github.com/tributary-io/tributary/internal/devstack",
		"github.com/tributary-io/tributary/internal/slapdtest",
		"github.com/tributary-io/tributary/internal/qualyssim",
		"github.com/tributary-io/tributary/internal/nexposesim",
		"github.com/tributary-io/tributary/internal/simfault",
		"github.com/tributary-io/tributary/internal/feedsim",
		"go.temporal.io/sdk/testsuite",
		"github.com/temporalio/ui-server",
	}
	for _, cmd := range []string{"tributary-server", "tributary-worker", "tributary-migrate"} {
		out, err := exec.Command("go", "list", "-deps", "./"+cmd).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", cmd, err, out)
		}
		for _, dep := range strings.Split(string(out), "\n") {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s links %s", cmd, dep)
				}
			}
		}
	}
	out, err := exec.Command("go", "list", "-deps", "./tributary-dev").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "go.temporal.io/server/temporal\n") {
		t.Fatalf("tributary-dev should embed the Temporal server: %v", err)
	}
}
