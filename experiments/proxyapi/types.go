package proxyapi

import (
	"encoding/json"
	"time"

	"github.com/aftershock/aftershock/experiments"
)

// Fault is an active fault, as GET /faults lists it and POST /faults
// returns it.
type Fault struct {
	Name string `json:"name"`
	// Kind is "network" (a networkChaos block), "http" (httpChaos) or
	// "grpc" (grpcChaos).
	Kind experiments.FaultKind `json:"kind"`
	// Description is what the proxy does, e.g. "delay 50ms to".
	Description string `json:"description"`
	// Block is the fault block as it was submitted.
	Block json.RawMessage `json:"fault"`
	// Added is when the fault was set; Expires when its lease runs out
	// and the proxy clears it.
	Added   time.Time `json:"added"`
	Expires time.Time `json:"expires,omitzero"`
}

// Error is the body of every answer that is not a success. Its error and
// status are what Toxiproxy answers, so that Toxiproxy's clients read it.
type Error struct {
	// Error is one line for people: every problem, semicolon-separated.
	Error string `json:"error"`
	// Status is the HTTP status of the answer.
	Status int `json:"status"`
	// Problems names each bad field of a POST body, when there are any.
	Problems []Problem `json:"problems,omitempty"`
}

// Problem is one thing wrong with a POST body.
type Problem struct {
	// Path is the field, relative to the fault block
	// ("networkChaos.action"); empty for the body as a whole.
	Path string `json:"path"`
	// Line and Column locate the field in the body, counting from 1;
	// zero when unknown.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Detail says what is wrong, with the offending value.
	Detail string `json:"detail"`
	// Allowed lists what would be accepted, when that is a short list.
	Allowed []string `json:"allowed,omitempty"`
}

// Info describes the proxy, as GET / returns it.
type Info struct {
	Listen   string               `json:"listen"`
	Forward  string               `json:"forward"`
	Protocol experiments.Protocol `json:"protocol"`
}
