// Package httpfault adds per-request HTTP faults, in Chaos Mesh HTTPChaos
// terms, to the TCP fault proxy of package proxy, for upstreams declared
// `protocol: http`.
//
// A [Proxy] is a proxy.Proxy whose connections are parsed as HTTP/1.1: the
// requests the service sends and the responses it gets back are read one by
// one (bodies, Content-Length or chunked, are streamed, and read whole only
// when a replace or patch of the body needs them), matched against the HTTP
// faults that are set at that moment — so faults act on keep-alive
// connections opened before them too — and written on. Every network fault
// of package proxy still applies, through [Proxy.Network], to the bytes on
// their way out.
//
// A [Fault] selects by method, path (a glob in which * matches any run of
// characters, / included, ? one character, [...] a class — as Chaos Mesh's
// proxy reads its path patterns), status code (Response target only) and
// exact header values, and acts with, in this order: Delay (hold the
// message), Abort (close the connection without passing the message on: for
// a request the service gets no response), Replace (path, method, queries
// and, for a response, code; headers and body) and Patch (headers and
// queries appended, body merged as a JSON merge patch, RFC 7396). Several
// matching faults act in the order they were added.
//
// HTTP/2 and upgrades are not parsed: a connection that opens with the
// HTTP/2 prior-knowledge preface (h2c) is passed through untouched at the
// TCP level, and so is everything after a request that asks for an upgrade
// (Upgrade header, CONNECT) — on those connections only the network faults
// apply. TLS is not terminated either, so HTTPS is opaque TCP as well.
//
// Messages are re-serialised by net/http: header names come out in canonical
// form, and a request's head and body are written through a 4 KB buffer, so
// a slowly streamed request body moves on in 4 KB steps.
package httpfault
