package main

// The plan the harness hands this side (docs/external-peers.md, "The plan"; the step fields are
// harness/src/scenario/steps.rs's Step).

import (
	"encoding/json"
	"fmt"
	"os"
)

type Plan struct {
	ID                 string             `json:"id"`
	Role               string             `json:"role"`
	SignalURL          string             `json:"signal_url"`
	ICETransportPolicy string             `json:"ice_transport_policy"`
	ICEServers         []ICEServer        `json:"ice_servers"`
	Steps              []Step             `json:"steps"`
	EchoMessage        string             `json:"echo_message"`
	ICEMode            string             `json:"ice_mode"`
	PerfectNegotiation bool               `json:"perfect_negotiation"`
	Media              []MediaExpectation `json:"media"`
}

// ICEServer is a W3C RTCIceServer: `urls` is a string or a list of strings.
type ICEServer struct {
	URLs       stringList `json:"urls"`
	Username   string     `json:"username"`
	Credential string     `json:"credential"`
}

type stringList []string

func (l *stringList) UnmarshalJSON(data []byte) error {
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*l = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

type Step struct {
	Do                string          `json:"do"`
	By                string          `json:"by"`
	WithinSecs        *float64        `json:"within_secs"`
	Label             string          `json:"label"`
	Ordered           *bool           `json:"ordered"`
	MaxRetransmits    *uint16         `json:"max_retransmits"`
	MaxPacketLifeTime *uint16         `json:"max_packet_life_time"`
	Protocol          *string         `json:"protocol"`
	Negotiated        *bool           `json:"negotiated"`
	ID                *uint16         `json:"id"`
	Channel           string          `json:"channel"`
	Text              *string         `json:"text"`
	Binary            *bool           `json:"binary"`
	Size              json.RawMessage `json:"size"`
	Count             *int            `json:"count"`
	ExpectError       *bool           `json:"expect_error"`
	Of                string          `json:"of"`
	State             string          `json:"state"`
	Kind              string          `json:"kind"`
	Direction         string          `json:"direction"`
	Codecs            []string        `json:"codecs"`
	Enabled           *bool           `json:"enabled"`
}

// defaultWithinSecs bounds a step whose plan gives no limit (the harness always gives one).
const defaultWithinSecs = 30.0

func (s *Step) within() float64 {
	if s.WithinSecs != nil {
		return *s.WithinSecs
	}
	return defaultWithinSecs
}

func (s *Step) count() int {
	if s.Count != nil {
		return *s.Count
	}
	return 1
}

func (s *Step) isRound() bool { return s.Do == "negotiate" || s.Do == "restart_ice" }

func (s *Step) flag(b *bool, fallback bool) bool {
	if b == nil {
		return fallback
	}
	return *b
}

// resolveSize is the step's message size in bytes against the other side's advertised
// max-message-size (-1: the step sets no size).
func (s *Step) resolveSize(maxMessageSize int) (int, error) {
	if len(s.Size) == 0 || string(s.Size) == "null" {
		return -1, nil
	}
	var n int
	if err := json.Unmarshal(s.Size, &n); err == nil {
		return n, nil
	}
	var relative string
	if err := json.Unmarshal(s.Size, &relative); err != nil {
		return 0, fmt.Errorf("size %s is neither a number nor a relative size", string(s.Size))
	}
	switch relative {
	case "max-message-size":
		return maxMessageSize, nil
	case "max-message-size+1":
		return maxMessageSize + 1, nil
	}
	return 0, fmt.Errorf("unknown relative size %q", relative)
}

type MediaExpectation struct {
	Side       string  `json:"side"`
	Kind       string  `json:"kind"`
	Codec      *string `json:"codec"`
	MinPackets *uint64 `json:"min_packets"`
	MinFrames  *uint64 `json:"min_frames"`
	Moving     *bool   `json:"moving"`
}

func readPlan(path string) (*Plan, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	plan := &Plan{}
	if err := json.Unmarshal(data, plan); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if plan.Role != "offerer" && plan.Role != "answerer" {
		return nil, fmt.Errorf("%s: role %q is neither offerer nor answerer", path, plan.Role)
	}
	return plan, nil
}
