package runner_test

import (
	"os"
	"testing"

	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/snapshot/snapshottest"
)

func TestMain(m *testing.M) {
	snapshottest.ServeIfTarget()
	code := m.Run()
	launch.CleanupBuildArtifacts()
	os.Exit(code)
}
