package main

// What this peer observed, in the shape of the harness's Observations (harness/src/observe/mod.rs
// and media.rs): the same field names the browser page and the native peer report. Every list is
// initialised so it is written as [] (the Rust side does not take null for a list).

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// nowMs is the time in milliseconds since the Unix epoch, as every observation is timed.
func nowMs() float64 {
	return float64(time.Now().UnixNano()) / 1e6
}

type Observations struct {
	ICEConnectionStates      []Transition      `json:"ice_connection_states"`
	ConnectionStates         []Transition      `json:"connection_states"`
	ICEGatheringStates       []Transition      `json:"ice_gathering_states"`
	SignalingStates          []Transition      `json:"signaling_states"`
	LocalCandidates          []string          `json:"local_candidates"`
	RemoteCandidates         []string          `json:"remote_candidates"`
	RemoteCandidatesComplete bool              `json:"remote_candidates_complete"`
	SelectedPair             *SelectedPair     `json:"selected_pair"`
	Channels                 []*DataChannelLog `json:"channels"`
	Steps                    []*StepLog        `json:"steps"`
	Tracks                   []*MediaTrackLog  `json:"tracks"`
	Negotiations             int               `json:"negotiations"`
	ByeReceivedAtMs          *float64          `json:"bye_received_at_ms"`
	RemoteID                 *string           `json:"remote_id"`
	LocalDescriptions        []Description     `json:"local_descriptions"`
	OfferCreatedAtMs         *float64          `json:"offer_created_at_ms"`
	Errors                   []string          `json:"errors"`
	Console                  []string          `json:"console"`
	Finished                 bool              `json:"finished"`
}

func newObservations() Observations {
	return Observations{
		ICEConnectionStates: []Transition{},
		ConnectionStates:    []Transition{},
		ICEGatheringStates:  []Transition{},
		SignalingStates:     []Transition{},
		LocalCandidates:     []string{},
		RemoteCandidates:    []string{},
		Channels:            []*DataChannelLog{},
		Steps:               []*StepLog{},
		Tracks:              []*MediaTrackLog{},
		LocalDescriptions:   []Description{},
		Errors:              []string{},
		Console:             []string{},
	}
}

type Transition struct {
	State string  `json:"state"`
	AtMs  float64 `json:"at_ms"`
}

type SelectedPair struct {
	Local  PairEnd `json:"local"`
	Remote PairEnd `json:"remote"`
}

type PairEnd struct {
	Type          string `json:"type"`
	Protocol      string `json:"protocol"`
	Address       string `json:"address"`
	Port          uint16 `json:"port"`
	RelayProtocol string `json:"relay_protocol,omitempty"`
}

type StepLog struct {
	Index                  int      `json:"index"`
	Do                     string   `json:"do"`
	By                     string   `json:"by"`
	Acted                  bool     `json:"acted"`
	StartedAtMs            float64  `json:"started_at_ms"`
	EndedAtMs              *float64 `json:"ended_at_ms"`
	Error                  *string  `json:"error"`
	Skipped                *string  `json:"skipped"`
	LocalCandidatesBefore  int      `json:"local_candidates_before"`
	RemoteCandidatesBefore int      `json:"remote_candidates_before"`
}

type DataChannelLog struct {
	Label            string   `json:"label"`
	ID               *uint16  `json:"id"`
	Echoes           bool     `json:"echoes"`
	OpenedAtMs       *float64 `json:"opened_at_ms"`
	ClosedAtMs       *float64 `json:"closed_at_ms"`
	Echo             *EchoLog `json:"echo"`
	MessagesSent     int      `json:"messages_sent"`
	BytesSent        int      `json:"bytes_sent"`
	MessagesReceived int      `json:"messages_received"`
	BytesReceived    int      `json:"bytes_received"`
	MessagesEchoed   int      `json:"messages_echoed"`
	EchoesMatched    int      `json:"echoes_matched"`
	SendErrors       []string `json:"send_errors"`
}

type EchoLog struct {
	Sent         string   `json:"sent"`
	SentAtMs     float64  `json:"sent_at_ms"`
	Received     *string  `json:"received"`
	ReceivedAtMs *float64 `json:"received_at_ms"`
}

type Description struct {
	Type string  `json:"type"`
	SDP  string  `json:"sdp"`
	AtMs float64 `json:"at_ms"`
	// The candidate counts when this description's offer/answer round began (this side created
	// its offer, or took the other side's): the baseline for "new candidates" after an ICE
	// restart, however late the restart step itself began on this side.
	LocalCandidatesBefore  int `json:"local_candidates_before"`
	RemoteCandidatesBefore int `json:"remote_candidates_before"`
}

type MediaTrackLog struct {
	Kind              string        `json:"kind"`
	Direction         string        `json:"direction"`
	Mid               *string       `json:"mid"`
	Codec             *string       `json:"codec"`
	Fmtp              *string       `json:"fmtp"`
	StartedAtMs       *float64      `json:"started_at_ms"`
	FirstFrameAtMs    *float64      `json:"first_frame_at_ms"`
	Packets           uint64        `json:"packets"`
	PacketsDuplicated *uint64       `json:"packets_duplicated"`
	Bytes             uint64        `json:"bytes"`
	Frames            uint64        `json:"frames"`
	KeyFrames         uint64        `json:"key_frames"`
	JitterMs          *float64      `json:"jitter_ms"`
	PacketsLost       *int64        `json:"packets_lost"`
	NackCount         *uint64       `json:"nack_count"`
	PliCount          *uint64       `json:"pli_count"`
	DepacketizerError *string       `json:"depacketizer_error"`
	FrameChecks       []FrameCheck  `json:"frame_checks"`
	Samples           []MediaSample `json:"samples"`
}

func (t *MediaTrackLog) isInbound(kind string) bool {
	return t.Direction == "inbound" && t.Kind == kind
}

type FrameCheck struct {
	AtMs    float64 `json:"at_ms"`
	Changed bool    `json:"changed"`
	Black   *bool   `json:"black"`
	How     string  `json:"how"`
}

type MediaSample struct {
	AtMs    float64 `json:"at_ms"`
	Packets uint64  `json:"packets"`
	Bytes   uint64  `json:"bytes"`
	Frames  uint64  `json:"frames"`
}

// writeFileAtomically writes data next to path and renames it over, so a reader never sees half
// a document.
func writeFileAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".observations-*.tmp")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// marshalObservations is the JSON document of the observations (called with the peer's lock held).
func marshalObservations(o *Observations) ([]byte, error) {
	return json.MarshalIndent(o, "", "  ")
}
