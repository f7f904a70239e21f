package main

// The relay protocol (README "Signaling protocol"): hello, offer, answer, candidate, bye, each
// with `m`. Frames are handled one after another, in arrival order, on one goroutine.

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v3"
)

// join opens the WebSocket to the relay room, says hello and starts reading frames.
func (p *Peer) join() error {
	dialer := websocket.Dialer{HandshakeTimeout: joinTimeout}
	conn, _, err := dialer.Dial(p.plan.SignalURL, nil)
	if err != nil {
		return fmt.Errorf("cannot join the relay at %s: %w", p.plan.SignalURL, err)
	}
	p.ws = conn
	frames := make(chan []byte, 1024)
	go func() {
		defer close(frames)
		for {
			kind, data, err := conn.ReadMessage()
			if err != nil {
				p.mu.Lock()
				expected := p.leaving || p.obs.Finished
				p.socketClosed = true
				p.mu.Unlock()
				if !expected {
					p.errorf("signaling", "the relay closed the connection (%v)", err)
				}
				return
			}
			if kind == websocket.TextMessage {
				frames <- data
			}
		}
	}()
	go func() {
		for frame := range frames {
			p.onFrame(frame)
		}
	}()
	p.send(map[string]interface{}{"type": "hello"})
	return nil
}

// send sends one message, signed with this side's id.
func (p *Peer) send(message map[string]interface{}) {
	message["m"] = p.plan.ID
	data, err := json.Marshal(message)
	if err != nil {
		p.errorf("signaling", "cannot encode a %v message: %v", message["type"], err)
		return
	}
	p.wsMu.Lock()
	defer p.wsMu.Unlock()
	if p.ws == nil {
		return
	}
	p.ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if err := p.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		p.mu.Lock()
		expected := p.leaving || p.socketClosed
		p.mu.Unlock()
		if !expected {
			p.errorf("signaling", "sending a %v message failed: %v", message["type"], err)
		}
	}
}

// closeSocket closes the WebSocket with a close frame.
func (p *Peer) closeSocket() {
	p.mu.Lock()
	p.leaving = true
	p.mu.Unlock()
	p.wsMu.Lock()
	defer p.wsMu.Unlock()
	if p.ws == nil {
		return
	}
	deadline := time.Now().Add(time.Second)
	_ = p.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), deadline)
	_ = p.ws.Close()
	p.ws = nil
}

type frame struct {
	Type          string  `json:"type"`
	M             string  `json:"m"`
	SDP           string  `json:"sdp"`
	Candidate     *string `json:"candidate"`
	SDPMid        *string `json:"sdpMid"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex"`
	Error         string  `json:"error"`
}

func (p *Peer) onFrame(data []byte) {
	var f frame
	if err := json.Unmarshal(data, &f); err != nil {
		p.errorf("signaling", "ignored a frame that is not JSON: %s", data)
		return
	}
	switch f.Type {
	case "hello":
		p.onHello(f.M)
	case "offer":
		p.onOffer(f.SDP)
	case "answer":
		p.onAnswer(f.SDP)
	case "candidate":
		p.onCandidate(f)
	case "bye":
		p.onBye()
	case "error":
		p.errorf("relay", "%s", f.Error)
	default:
		p.errorf("signaling", "ignored a frame of unknown type: %s", data)
	}
}

func (p *Peer) onHello(sender string) {
	p.mu.Lock()
	if sender == p.plan.ID || p.knownPeers[sender] {
		p.mu.Unlock()
		return
	}
	p.knownPeers[sender] = true
	id := sender
	p.obs.RemoteID = &id
	p.dirty = true
	p.mu.Unlock()
	p.send(map[string]interface{}{"type": "hello"}) // whoever joined first learns of us too
}

func (p *Peer) onBye() {
	p.mu.Lock()
	if p.obs.ByeReceivedAtMs != nil || p.closed {
		p.mu.Unlock()
		return
	}
	at := nowMs()
	p.obs.ByeReceivedAtMs = &at
	p.dirty = true
	p.mu.Unlock()
	p.readFinal()
	p.closeConnection()
	p.closeSocket()
}

// ---- Candidates ----

// onLocalCandidate: pion's icecandidate event (nil once gathering is complete).
func (p *Peer) onLocalCandidate(c *webrtc.ICECandidate) {
	var message map[string]interface{}
	if c == nil {
		message = map[string]interface{}{"type": "candidate", "candidate": ""}
	} else {
		text := c.ToJSON().Candidate
		p.update(func(o *Observations) { o.LocalCandidates = append(o.LocalCandidates, text) })
		// pion's ToJSON() says sdpMid "" (pion/webrtc icecandidate.go): the candidate belongs to
		// the bundle's first m-section, so that is named.
		message = map[string]interface{}{
			"type": "candidate", "candidate": text, "sdpMid": p.firstMid(), "sdpMLineIndex": 0,
		}
	}
	if p.vanilla() {
		return // the candidates travel inside the description
	}
	p.candMu.Lock()
	defer p.candMu.Unlock()
	if p.candidateHolds > 0 {
		// The description they belong to is not sent yet (pion gathers an ICE restart's
		// candidates within createOffer / setRemoteDescription).
		p.heldCandidates = append(p.heldCandidates, message)
		return
	}
	p.send(message)
}

// holdLocalCandidates keeps this side's candidates back until its description is sent (holds
// nest: an offer being made and one being answered at once, in glare).
func (p *Peer) holdLocalCandidates() {
	p.candMu.Lock()
	p.candidateHolds++
	p.candMu.Unlock()
}

// releaseLocalCandidates ends one hold; the last one sends what was held back, in order.
func (p *Peer) releaseLocalCandidates() {
	p.candMu.Lock()
	defer p.candMu.Unlock()
	p.candidateHolds--
	if p.candidateHolds > 0 {
		return
	}
	// Sent under the lock so a candidate gathered meanwhile cannot overtake them.
	for _, m := range p.heldCandidates {
		p.send(m)
	}
	p.heldCandidates = nil
}

var midLine = regexp.MustCompile(`(?m)^a=mid:(\S+)`)

// firstMid is the mid of the first m-section of the last local description, as setLocal saw
// it (read from pion inside its candidate callback, LocalDescription() would wait for the ICE
// agent that is calling: a deadlock).
func (p *Peer) firstMid() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.localFirstMid
}

func (p *Peer) vanilla() bool { return p.plan.ICEMode == "vanilla" }

func (p *Peer) onCandidate(f frame) {
	if f.Candidate == nil || *f.Candidate == "" {
		// End-of-candidates: nothing to add, but this side's evidence is now complete.
		p.update(func(o *Observations) { o.RemoteCandidatesComplete = true })
		return
	}
	init := webrtc.ICECandidateInit{Candidate: *f.Candidate, SDPMid: f.SDPMid, SDPMLineIndex: f.SDPMLineIndex}
	// Trickled candidates may overtake the description they belong to.
	if p.pc.RemoteDescription() == nil {
		p.mu.Lock()
		p.pending = append(p.pending, init)
		p.mu.Unlock()
		return
	}
	p.addCandidate(init)
}

func (p *Peer) addCandidate(init webrtc.ICECandidateInit) {
	if err := p.pc.AddICECandidate(init); err != nil {
		p.mu.Lock()
		ignoring := p.ignoreOffer
		p.mu.Unlock()
		// With perfect negotiation, candidates of an offer that was ignored cannot fit: expected.
		if ignoring {
			log.Printf("addIceCandidate(%s) after ignoring a colliding offer: %v", init.Candidate, err)
		} else {
			p.errorf(fmt.Sprintf("addIceCandidate(%s)", init.Candidate), "%v", err)
		}
		return
	}
	p.addRemoteCandidate(init.Candidate)
}

// addRemoteCandidate records a candidate of the other side's once per ICE generation: the same
// transport address may come trickled and again inside a description, spelled a little
// differently, and again after an ICE restart (a stack may keep its sockets), then as new.
func (p *Peer) addRemoteCandidate(text string) {
	key := func(c string) string {
		f := strings.Fields(strings.TrimPrefix(strings.TrimPrefix(c, "a="), "candidate:"))
		if len(f) < 8 {
			return ""
		}
		return f[1] + " " + strings.ToLower(f[2]) + " " + f[4] + " " + f[5]
	}
	own := key(text)
	p.update(func(o *Observations) {
		for _, seen := range o.RemoteCandidates[p.remoteGenerationStart:] {
			if seen == text || (own != "" && key(seen) == own) {
				return
			}
		}
		o.RemoteCandidates = append(o.RemoteCandidates, text)
	})
}

// ---- Offers and answers ----

var ufragLine = regexp.MustCompile(`(?m)^a=ice-ufrag:(\S+)`)

func iceUfrag(sdp string) string {
	if m := ufragLine.FindStringSubmatch(sdp); m != nil {
		return m[1]
	}
	return ""
}

// localUfrag is the ufrag of the current local description ("" before one).
func (p *Peer) localUfrag() string {
	if d := p.pc.LocalDescription(); d != nil {
		return iceUfrag(d.SDP)
	}
	return ""
}

// errRolledBack: our offer gave way to the other side's, whose answer completes the round.
var errRolledBack = errors.New("our offer was rolled back")

// makeOffer creates and sets an offer (an ICE restart one with `restart`) and sends it (vanilla:
// once its candidates are gathered).
func (p *Peer) makeOffer(restart bool, deadline time.Time, within string) error {
	p.mu.Lock()
	remoteOffersBefore := p.remoteOffersTaken
	p.makingOffer = true
	p.markRoundStart()
	gatheredBefore := p.gatheringDone
	p.mu.Unlock()
	p.holdLocalCandidates()
	defer p.releaseLocalCandidates()
	ufragBefore := p.localUfrag()

	err := func() error {
		defer func() {
			p.mu.Lock()
			p.makingOffer = false
			p.mu.Unlock()
		}()
		offer, err := p.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: restart})
		if err != nil {
			return fmt.Errorf("createOffer: %w", err)
		}
		p.update(func(o *Observations) {
			if o.OfferCreatedAtMs == nil {
				at := nowMs()
				o.OfferCreatedAtMs = &at
			}
		})
		if err := p.setLocal(offer); err != nil {
			return fmt.Errorf("setLocalDescription(offer): %w", err)
		}
		return nil
	}()
	if err != nil {
		p.mu.Lock()
		taken := p.remoteOffersTaken > remoteOffersBefore
		p.mu.Unlock()
		if taken {
			// The other side's offer was taken while ours was being made (the polite side of a
			// collision): answering it completes the round.
			p.note("our offer gave way to the other side's (%v); answering theirs completes the round", err)
			return nil
		}
		return err
	}
	return p.sendDescription(ufragBefore, gatheredBefore, deadline, within)
}

// markRoundStart notes the candidate counts as an offer/answer round begins (called with mu held).
func (p *Peer) markRoundStart() {
	p.roundLocalBase = len(p.obs.LocalCandidates)
	p.roundRemoteBase = len(p.obs.RemoteCandidates)
}

// setLocal sets and records a local description.
func (p *Peer) setLocal(d webrtc.SessionDescription) error {
	if err := p.pc.SetLocalDescription(d); err != nil {
		return err
	}
	local := p.pc.LocalDescription()
	p.update(func(o *Observations) {
		o.LocalDescriptions = append(o.LocalDescriptions, Description{
			Type: local.Type.String(), SDP: local.SDP, AtMs: nowMs(),
			LocalCandidatesBefore: p.roundLocalBase, RemoteCandidatesBefore: p.roundRemoteBase,
		})
		if m := midLine.FindStringSubmatch(local.SDP); m != nil {
			p.localFirstMid = m[1]
		}
	})
	return nil
}

// sendDescription sends the local description; vanilla: once gathered, with every candidate
// inside. When it brings new ICE credentials (the first description, an ICE restart), gathering
// must complete anew: `gatheredBefore` is the count of completions when the round began.
func (p *Peer) sendDescription(ufragBefore string, gatheredBefore int, deadline time.Time, within string) error {
	local := p.pc.LocalDescription()
	if local == nil {
		return fmt.Errorf("no local description to send")
	}
	if p.vanilla() {
		fresh := iceUfrag(local.SDP) != ufragBefore
		gathered := func() bool {
			p.mu.Lock()
			done := p.gatheringDone
			p.mu.Unlock()
			return p.pc.ICEGatheringState() == webrtc.ICEGatheringStateComplete && (!fresh || done > gatheredBefore)
		}
		err := p.waitUntil(deadline, gathered, func() string {
			return fmt.Sprintf("ICE gathering never completed %s (gathering %s)", within, p.pc.ICEGatheringState())
		})
		if err != nil {
			return err
		}
		if local.Type == webrtc.SDPTypeOffer && p.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			p.note("our offer was rolled back while gathering; not sending it")
			return nil
		}
		local = p.pc.LocalDescription() // now with every candidate
	}
	p.send(map[string]interface{}{"type": local.Type.String(), "sdp": local.SDP})
	return nil
}

// readyForOffer: an offer that arrives while this side is still adding what it brings to that
// round (its add_track steps) waits for them, so the answer includes them.
func (p *Peer) readyForOffer() {
	p.mu.Lock()
	negotiations := p.obs.Negotiations
	current := p.currentStep
	p.mu.Unlock()
	target := -1
	rounds := 0
	for i := range p.plan.Steps {
		if p.plan.Steps[i].isRound() {
			if rounds == negotiations {
				target = i
				break
			}
			rounds++
		}
	}
	if target < 0 || current >= target || current < 0 {
		return
	}
	before := p.plan.Steps[current:target]
	hasTrack := false
	for _, s := range before {
		if s.Do == "add_track" {
			hasTrack = true
		} else if s.Do != "open_channel" {
			return
		}
	}
	if !hasTrack {
		return
	}
	p.note("an offer arrived while steps %d..%d (add_track) were under way: answering it after them", current, target-1)
	_ = p.waitUntil(time.Now().Add(p.longestStep()), func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.currentStep >= target
	}, func() string { return "" })
}

// longestStep bounds the frame handler's own waits (vanilla gathering, readyForOffer).
func (p *Peer) longestStep() time.Duration {
	longest := defaultWithinSecs
	for i := range p.plan.Steps {
		if w := p.plan.Steps[i].within(); w > longest || i == 0 {
			longest = w
		}
	}
	return time.Duration(longest * float64(time.Second))
}

func (p *Peer) polite() bool { return p.plan.Role == "answerer" }

func (p *Peer) onOffer(sdp string) {
	p.readyForOffer()
	if p.plan.PerfectNegotiation {
		p.mu.Lock()
		collision := p.makingOffer || p.pc.SignalingState() != webrtc.SignalingStateStable
		p.ignoreOffer = collision && !p.polite()
		ignore := p.ignoreOffer
		p.mu.Unlock()
		if ignore {
			p.note("ignored a colliding offer (impolite; signaling %s)", p.pc.SignalingState())
			return
		}
	}
	p.mu.Lock()
	p.remoteOffersTaken++
	p.answering = true
	p.markRoundStart()
	gatheredBefore := p.gatheringDone
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.answering = false
		p.mu.Unlock()
	}()
	p.holdLocalCandidates()
	defer p.releaseLocalCandidates()
	ufragBefore := p.localUfrag()

	if p.plan.PerfectNegotiation && p.pc.SignalingState() == webrtc.SignalingStateHaveLocalOffer {
		// The polite side of a collision: pion has no implicit rollback
		// (setRemoteDescription(offer) in have-local-offer fails), so it rolls back explicitly.
		pending := p.pc.LocalDescription()
		rollback := webrtc.SessionDescription{Type: webrtc.SDPTypeRollback}
		if pending != nil {
			rollback.SDP = pending.SDP // pion parses the SDP of a rollback too
		}
		if err := p.pc.SetLocalDescription(rollback); err != nil {
			p.errorf("answering an offer", "rollback: %v", err)
			return
		}
		p.note("rolled our offer back for the other side's (polite)")
	}
	if err := p.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		p.errorf("answering an offer", "setRemoteDescription(offer): %v", err)
		return
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err != nil {
		p.errorf("answering an offer", "createAnswer: %v", err)
		return
	}
	if err := p.setLocal(answer); err != nil {
		p.errorf("answering an offer", "setLocalDescription(answer): %v", err)
		return
	}
	p.update(func(o *Observations) { o.Negotiations++ })
	limit := p.longestStep()
	within := fmt.Sprintf("within %g s", limit.Seconds())
	if err := p.sendDescription(ufragBefore, gatheredBefore, time.Now().Add(limit), within); err != nil {
		p.errorf("answering an offer", "%v", err)
	}
}

func (p *Peer) onAnswer(sdp string) {
	if err := p.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp}); err != nil {
		p.errorf("applying an answer", "setRemoteDescription(answer): %v", err)
		return
	}
	p.update(func(o *Observations) { o.Negotiations++ })
}

// setRemote sets a remote description, records the candidates inside it, and adds the
// candidates that were waiting for it.
func (p *Peer) setRemote(d webrtc.SessionDescription) error {
	if err := p.pc.SetRemoteDescription(d); err != nil {
		return err
	}
	ufrag := iceUfrag(d.SDP)
	p.mu.Lock()
	// New credentials (an ICE restart): a new generation of candidates is coming, so the
	// evidence is complete again only with its end-of-candidates.
	if p.remoteUfrag != "" && ufrag != p.remoteUfrag {
		p.obs.RemoteCandidatesComplete = false
		p.remoteGenerationStart = len(p.obs.RemoteCandidates)
	}
	p.remoteUfrag = ufrag
	p.mu.Unlock()
	// A peer that does not trickle has its candidates in the description: they count too.
	for _, line := range strings.Split(d.SDP, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, "a=candidate:") {
			p.addRemoteCandidate(line[2:])
		}
		if strings.HasPrefix(line, "a=end-of-candidates") {
			p.update(func(o *Observations) { o.RemoteCandidatesComplete = true })
		}
	}
	p.mu.Lock()
	queued := p.pending
	p.pending = nil
	p.mu.Unlock()
	for _, c := range queued {
		p.addCandidate(c)
	}
	return nil
}
