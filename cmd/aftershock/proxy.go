package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/aftershock/aftershock/experiments"
	"github.com/aftershock/aftershock/experiments/proxyapi"
)

func init() { commands = append(commands, newProxyCommand) }

// proxyOptions are the flags of aftershock proxy.
type proxyOptions struct {
	listen, forward, protocol, api string
	allowHosts                     []string
}

// proxyReady is the JSON of the ready line, for scripts and tests.
type proxyReady struct {
	Listen   string `json:"listen"`
	Forward  string `json:"forward"`
	Protocol string `json:"protocol"`
	API      string `json:"api"`
}

func newProxyCommand(g *globalOptions) *cobra.Command {
	o := &proxyOptions{}
	cmd := &cobra.Command{
		Use:   "proxy --listen ADDR --forward ADDR [--protocol tcp|http|h2c|grpc] [--api ADDR]",
		Short: "Run the fault proxy standalone, with its HTTP control API",
		Long: `Forward every connection to --listen on to --forward, and set and clear
faults at run time through a JSON control API on --api:

  GET    /faults        the active faults
  POST   /faults        set a fault: one fault block of a Drill file, as JSON
  DELETE /faults/NAME   clear one fault
  DELETE /faults        clear every fault

  curl -X POST http://API/faults -d '{"name":"lat","networkChaos":{"action":"delay","delay":{"latency":"50ms"}},"duration":"30s"}'

The same address serves Toxiproxy 2.12's API (/proxies, /populate, toxics,
/reset), so Toxiproxy's own clients drive this proxy unchanged: it is one
Toxiproxy proxy, its toxics and its disabling hold until undone
(docs/toxiproxy.md).

The fault's duration is its lease: the proxy clears it by itself when it
runs out. --protocol http parses HTTP/1.1 and also takes httpChaos faults;
h2c and grpc terminate HTTP/2 (cleartext) on both sides and take httpChaos
faults per stream, grpc also grpcChaos faults per call.
Port 0 picks a free port; once listening, one line goes to stdout:

  aftershock proxy ready {"listen":"127.0.0.1:P","forward":"...","protocol":"tcp","api":"http://127.0.0.1:Q"}

(with --output json, the JSON alone).

SIGINT or SIGTERM closes the proxy, clearing every fault and closing every
connection through it, and exits 0. Every address must be loopback unless
--allow-host names its host. Exit codes: 2 bad flags, 3 a port is busy.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.check(); err != nil {
				return withCode(exitBadInput, err)
			}
			ctx, stop := signalContext(cmd.Context(), cmd.ErrOrStderr())
			defer stop()
			return runProxy(ctx, o, g.output, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "", "host:port the proxy listens on (port 0 picks one)")
	f.StringVar(&o.forward, "forward", "", "host:port of the upstream the proxy forwards to")
	f.StringVar(&o.protocol, "protocol", "tcp", "tcp; http to parse HTTP/1.1 and allow httpChaos faults; h2c or grpc for HTTP/2 (grpc: also grpcChaos)")
	f.StringVar(&o.api, "api", "127.0.0.1:0", "host:port of the control API (port 0 picks one)")
	f.StringSliceVar(&o.allowHosts, "allow-host", nil, "let --listen, --forward or --api use this non-loopback host, IP or CIDR range (repeatable)")
	_ = cmd.MarkFlagRequired("listen")
	_ = cmd.MarkFlagRequired("forward")
	return cmd
}

// check validates the flags: a bad one is exit 2 before any port is taken.
func (o *proxyOptions) check() error {
	switch experiments.Protocol(o.protocol) {
	case experiments.ProtocolTCP, experiments.ProtocolHTTP, experiments.ProtocolH2C, experiments.ProtocolGRPC:
	default:
		return fmt.Errorf("--protocol must be tcp, http, h2c or grpc, got %q", o.protocol)
	}
	for _, a := range []struct{ flag, addr string }{{"--listen", o.listen}, {"--forward", o.forward}, {"--api", o.api}} {
		host, port, err := net.SplitHostPort(a.addr)
		if err != nil {
			return fmt.Errorf("%s %q: want host:port, e.g. 127.0.0.1:9100: %w", a.flag, a.addr, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 || (n == 0 && a.flag == "--forward") {
			return fmt.Errorf("%s %q: bad port %q", a.flag, a.addr, port)
		}
		if err := experiments.CheckHost(host, o.allowHosts...); err != nil {
			return fmt.Errorf("%s %s: %w (blast-radius guard; --allow-host %s lets it through)", a.flag, a.addr, err, cmp.Or(host, "0.0.0.0"))
		}
	}
	if o.listen == o.forward {
		return fmt.Errorf("--forward %s is the --listen address itself; the proxy would call itself", o.forward)
	}
	return nil
}

// listenError maps a failure to listen to exit 3, saying so when the
// port is taken.
func listenError(flag, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return withCode(exitCouldNotRun, fmt.Errorf("%s %s: port is busy (another process listens there): %w", flag, addr, err))
	}
	return withCode(exitCouldNotRun, fmt.Errorf("%s %s: cannot listen: %w", flag, addr, err))
}

// runProxy serves until ctx is cancelled (SIGINT, SIGTERM), then closes
// the proxy, which clears every fault.
func runProxy(ctx context.Context, o *proxyOptions, output string, stdout, stderr io.Writer) error {
	var (
		closeProxy func() error
		api        *proxyapi.API
	)
	np, hp, err := experiments.StartProxy(experiments.Protocol(o.protocol), o.listen, o.forward)
	if err != nil {
		return listenError("--listen", o.listen, err)
	}
	switch {
	case hp == nil:
		closeProxy, api = np.Close, proxyapi.New(np)
	case experiments.Protocol(o.protocol).HTTP2():
		closeProxy, api = hp.Close, proxyapi.NewH2(hp, experiments.Protocol(o.protocol))
	default:
		closeProxy, api = hp.Close, proxyapi.NewHTTP(hp)
	}
	defer closeProxy()
	ln, err := net.Listen("tcp", o.api)
	if err != nil {
		return listenError("--api", o.api, err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	info := proxyReady{Listen: api.Info().Listen, Forward: o.forward, Protocol: o.protocol, API: "http://" + ln.Addr().String()}
	if c, err := net.DialTimeout("tcp", o.forward, time.Second); err != nil {
		fmt.Fprintf(stderr, "aftershock proxy: warning: upstream %s does not answer yet: %v\n", o.forward, err)
	} else {
		c.Close()
	}
	fmt.Fprintf(stderr, "aftershock proxy: %s → %s (%s); control API %s\n", info.Listen, info.Forward, info.Protocol, info.API)
	line, _ := json.Marshal(info)
	if output == "json" {
		fmt.Fprintf(stdout, "%s\n", line)
	} else {
		fmt.Fprintf(stdout, "aftershock proxy ready %s\n", line)
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return withCode(exitCouldNotRun, fmt.Errorf("control API stopped: %w", err))
	}
	// The faults go first: a slow API client must not keep them alive.
	n := len(api.Faults())
	if err := closeProxy(); err != nil {
		return withCode(exitCouldNotRun, fmt.Errorf("closing the proxy: %w", err))
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	fmt.Fprintf(stderr, "aftershock proxy: stopped; %d fault(s) cleared\n", n)
	return nil
}
