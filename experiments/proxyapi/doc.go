// Package proxyapi is the JSON control API of a standalone fault proxy
// (aftershock proxy): an http.Handler that sets, lists and clears the
// faults of one proxy.Proxy or httpfault.Proxy at run time.
//
//	GET    /               the proxy: listen, forward, protocol
//	GET    /faults         the active faults, oldest first (200, a JSON list)
//	GET    /faults/NAME    one active fault (200, or 404)
//	POST   /faults         set a fault (201 with the active fault, or 400)
//	DELETE /faults/NAME    clear one fault (204, or 404)
//	DELETE /faults         clear every fault (204)
//
// A POST body is one fault block of a Drill file, as JSON:
//
//	{"name":"lat","networkChaos":{"action":"delay","delay":{"latency":"50ms"}},"duration":"30s"}
//
// It is checked by the Drill file's own strict loader
// (experiments.ParseFaultJSON), as the fault of an upstream whose listen and
// forward addresses and protocol are the proxy's, so an API client gets the
// messages a Drill file would get. The duration is the fault's lease: the
// proxy clears the fault by itself when it runs out, whether or not anyone
// calls DELETE. The block may leave out its upstream (or name any).
//
// Bad input — bad JSON, an unknown field, an unknown action, a bad
// duration, a name already in use, httpChaos on a tcp proxy, a block that
// is not a proxy fault (stalledClients) — gets 400 and a JSON Error naming
// each bad field, and changes nothing: a fault is set only once every check
// has passed.
//
// Beside it, Toxiproxy 2.12's API (/proxies, /populate, /proxies/NAME/toxics,
// /reset; see toxiproxy.go) lets Toxiproxy's own clients drive the same
// faults, unchanged.
package proxyapi
