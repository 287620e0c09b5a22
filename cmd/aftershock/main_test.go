package main_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega/gexec"

	"github.com/aftershock/aftershock/fixtures/launch"
	"github.com/aftershock/aftershock/fixtures/stack"
)

// The binaries under test, built once for the package.
var (
	aftershockBin string
	shopBin       string
)

func TestMain(m *testing.M) {
	var err error
	aftershockBin, err = gexec.Build("github.com/aftershock/aftershock/cmd/aftershock")
	if err == nil {
		shopBin, err = launch.Build(launch.ShopPackage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		os.Exit(1)
	}
	code := m.Run()
	gexec.CleanupBuildArtifacts()
	launch.CleanupBuildArtifacts()
	os.Exit(code)
}

// startStack starts payments and a shop with the given switches, stopped
// when the test ends.
func startStack(t *testing.T, leaks, fixes []string) *stack.Stack {
	t.Helper()
	return startStackWith(t, leaks, fixes)
}

// startStackWith is startStack with extra shop flags.
func startStackWith(t *testing.T, leaks, fixes []string, shopArgs ...string) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := stack.Start(ctx, stack.Config{Shop: []string{shopBin}, Leaks: leaks, Fixes: fixes, ShopArgs: shopArgs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	return st
}

// startStackWithProxy is startStackWith for a shop that calls payments
// at proxyAddr: a second replica behind the first one's fault proxy.
func startStackWithProxy(t *testing.T, proxyAddr string, leaks, fixes []string, shopArgs ...string) *stack.Stack {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := stack.Start(ctx, stack.Config{Shop: []string{shopBin}, Leaks: leaks, Fixes: fixes, ShopArgs: shopArgs, ProxyAddr: proxyAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Stop() })
	return st
}

// aftershock runs the binary to its end with env added and returns the exit
// code, stdout and stderr.
func aftershock(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(aftershockBin, args...)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run aftershock: %v", err)
	}
	return code, out.String(), errb.String()
}

// demoDrill is the path of a shipped drill.
func demoDrill(name string) string {
	return filepath.Join("..", "..", "experiments", "drills", name+".yaml")
}

// listening tells whether something accepts connections at addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// limit runs at most two heavy drills at once: the machine has two cores
// and each drill holds a shop, its load and the proxy.
var limit = make(chan struct{}, 2)

func heavy(t *testing.T) {
	t.Parallel()
	limit <- struct{}{}
	t.Cleanup(func() { <-limit })
}
