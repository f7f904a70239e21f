package main

// The steps (harness/src/scenario/steps.rs): for each one this side either acts (the step's `by`
// is its role, or `both`) or plays the counterpart (waits for the evidence that the other side's
// action reached it). A step that fails ends the plan.

import (
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/pion/webrtc/v3"
)

// stepFailure is a step's failure in the words the report shows.
type stepFailure struct{ message string }

func (e stepFailure) Error() string { return e.message }

// waitUntil returns once `done()` holds, or a stepFailure with `describe()` once `deadline` passed.
// It looks at `done()` again at every change of the observations (so a step follows the evidence
// at once: pion↔pion on loopback answers within a millisecond) and every pollInterval (for
// pion's own states read by `done()`).
func (p *Peer) waitUntil(deadline time.Time, done func() bool, describe func() string) error {
	for {
		changed := p.changed()
		if done() {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return stepFailure{describe()}
		}
		if left > pollInterval {
			left = pollInterval
		}
		select {
		case <-changed:
		case <-time.After(left):
		}
	}
}

// stepContext is one step as this side plays it.
type stepContext struct {
	peer     *Peer
	step     *Step
	index    int
	acted    bool
	log      *StepLog
	target   int // this step's offer/answer round is the target-th
	deadline time.Time
	within   string
}

func (c *stepContext) wait(done func() bool, describe func() string) error {
	return c.peer.waitUntil(c.deadline, done, describe)
}

// runSteps plays the plan; false when a step failed.
func (p *Peer) runSteps() bool {
	rounds := 0
	for index := range p.plan.Steps {
		step := &p.plan.Steps[index]
		if step.isRound() {
			rounds++
		}
		acted := step.By == p.plan.Role || step.By == "both"
		started := nowMs()
		entry := &StepLog{Index: index, Do: step.Do, By: step.By, Acted: acted, StartedAtMs: started}
		p.mu.Lock()
		p.currentStep = index
		entry.LocalCandidatesBefore = len(p.obs.LocalCandidates)
		entry.RemoteCandidatesBefore = len(p.obs.RemoteCandidates)
		p.obs.Steps = append(p.obs.Steps, entry)
		p.dirty = true
		p.mu.Unlock()
		ctx := &stepContext{
			peer:     p,
			step:     step,
			index:    index,
			acted:    acted,
			log:      entry,
			target:   rounds,
			deadline: time.Now().Add(time.Duration(step.within() * float64(time.Second))),
			within:   fmt.Sprintf("within %g s", step.within()),
		}
		log.Printf("step %d (%s, %s): %s", index, step.Do, step.By, map[bool]string{true: "acting", false: "counterpart"}[acted])
		err := p.playStep(ctx)
		p.update(func(o *Observations) {
			ended := nowMs()
			entry.EndedAtMs = &ended
			if err != nil {
				text := err.Error()
				if _, ok := err.(stepFailure); !ok {
					text = fmt.Sprintf("%s failed: %v", step.Do, err)
				}
				entry.Error = &text
			}
		})
		if err != nil {
			log.Printf("step %d (%s, %s) failed: %s", index, step.Do, step.By, *entry.Error)
			p.mu.Lock()
			p.currentStep = len(p.plan.Steps)
			p.mu.Unlock()
			return false
		}
	}
	p.mu.Lock()
	p.currentStep = len(p.plan.Steps)
	p.mu.Unlock()
	// The same grace lets a connection still being checked settle, so the evidence this side
	// reports as finished holds its outcome (a side whose last step is the other side's can
	// finish before its own ICE has connected).
	_ = p.waitUntil(time.Now().Add(endOfCandidatesGrace), func() bool {
		p.mu.Lock()
		done := p.obs.RemoteCandidatesComplete || p.closed
		closed := p.closed
		p.mu.Unlock()
		checking := p.pc.ICEConnectionState() == webrtc.ICEConnectionStateChecking && p.pc.RemoteDescription() != nil
		return closed || (done && !checking)
	}, func() string { return "" })
	return true
}

func (p *Peer) playStep(c *stepContext) error {
	switch c.step.Do {
	case "open_channel":
		return p.stepOpenChannel(c)
	case "negotiate":
		return p.stepNegotiate(c, false)
	case "restart_ice":
		return p.stepNegotiate(c, true)
	case "send":
		return p.stepSend(c)
	case "expect_echo":
		return p.stepExpectEcho(c)
	case "close_channel":
		return p.stepCloseChannel(c)
	case "hang_up":
		return p.stepHangUp(c)
	case "wait_for":
		return p.stepWaitFor(c)
	case "add_track":
		return p.stepAddTrack(c)
	case "expect_media":
		return p.stepExpectMedia(c)
	}
	return stepFailure{fmt.Sprintf("the pion peer does not know the step `%s`", c.step.Do)}
}

func (p *Peer) stepOpenChannel(c *stepContext) error {
	s := c.step
	negotiated := s.flag(s.Negotiated, false)
	if !c.acted && !negotiated {
		return nil // it is announced by OnDataChannel once negotiated
	}
	ordered := s.flag(s.Ordered, true)
	protocol := ""
	if s.Protocol != nil {
		protocol = *s.Protocol
	}
	init := &webrtc.DataChannelInit{
		Ordered:           &ordered,
		Protocol:          &protocol,
		MaxRetransmits:    s.MaxRetransmits,
		MaxPacketLifeTime: s.MaxPacketLifeTime,
	}
	if negotiated {
		init.Negotiated = &negotiated
		init.ID = s.ID
	}
	dc, err := p.pc.CreateDataChannel(s.Label, init)
	if err != nil {
		return stepFailure{fmt.Sprintf("createDataChannel(%s) failed: %v", s.Label, err)}
	}
	p.adoptChannel(dc, !c.acted)
	return nil
}

func (p *Peer) negotiations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.obs.Negotiations
}

func (p *Peer) iceUp() bool {
	s := p.pc.ICEConnectionState()
	return s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted
}

func (p *Peer) stepNegotiate(c *stepContext, restart bool) error {
	rounds := c.target
	if c.acted {
		err := c.wait(func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return len(p.knownPeers) > 0
		}, func() string { return "the other peer never said hello " + c.within })
		if err != nil {
			return err
		}
		// An offer is made in the stable state: an offer of the other side's being answered
		// goes first.
		err = c.wait(func() bool {
			p.mu.Lock()
			answering := p.answering
			p.mu.Unlock()
			return p.pc.SignalingState() == webrtc.SignalingStateStable && !answering
		}, func() string {
			return fmt.Sprintf("signaling never returned to stable to make an offer %s (signaling %s)", c.within, p.pc.SignalingState())
		})
		if err != nil {
			return err
		}
		if p.negotiations() >= rounds {
			// `by = "both"`: the other side's offer completed this round before ours was made.
			p.note("round %d was completed by the other side's offer before ours: no collision", rounds)
		} else if err := p.makeOffer(restart, c.deadline, c.within); err != nil {
			return err
		}
		// Done when the round is complete and signaling stable again — or closed: a `bye` that
		// came right behind the answer (the other side hung up once it answered) ends it too.
		err = c.wait(func() bool {
			state := p.pc.SignalingState()
			return p.negotiations() >= rounds && (state == webrtc.SignalingStateStable || state == webrtc.SignalingStateClosed)
		}, func() string { return p.roundNeverCompleted(rounds, c) })
		if err != nil {
			return err
		}
	} else {
		err := c.wait(func() bool { return p.negotiations() >= rounds }, func() string { return p.roundNeverCompleted(rounds, c) })
		if err != nil {
			return err
		}
	}
	if restart {
		return c.wait(p.iceUp, func() string {
			return fmt.Sprintf("ICE never returned to connected %s; last saw %s", c.within, p.pc.ICEConnectionState())
		})
	}
	return nil
}

// roundNeverCompleted: the failure words of both sides of a round, as the other peer kinds say them.
func (p *Peer) roundNeverCompleted(rounds int, c *stepContext) string {
	p.mu.Lock()
	why := ""
	for i := len(p.obs.Errors) - 1; i >= 0; i-- {
		e := p.obs.Errors[i]
		if containsAny(e, "Description", "createAnswer", "does not parse") {
			why = "; last error: " + e
			break
		}
	}
	done := p.obs.Negotiations
	p.mu.Unlock()
	return fmt.Sprintf("offer/answer round %d never completed %s (signaling `%s`, %d rounds done%s)",
		rounds, c.within, p.pc.SignalingState(), done, why)
}

func (p *Peer) stepHangUp(c *stepContext) error {
	if c.acted {
		p.readFinal()
		p.mu.Lock()
		byeReceived := p.obs.ByeReceivedAtMs != nil
		p.mu.Unlock()
		if !byeReceived {
			p.send(map[string]interface{}{"type": "bye"})
		}
		p.closeConnection()
		p.closeSocket()
		return nil
	}
	return c.wait(func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		// Not p.closed: set as the close begins, before its `closed` states are recorded (the
		// side would otherwise finish without them).
		return p.obs.ByeReceivedAtMs != nil && p.closeRecorded
	}, func() string {
		p.mu.Lock()
		bye := p.obs.ByeReceivedAtMs != nil
		p.mu.Unlock()
		if !bye {
			return fmt.Sprintf("no `bye` arrived %s (connection `%s`)", c.within, p.pc.ConnectionState())
		}
		return fmt.Sprintf("the connection did not close after bye %s (connection %s)", c.within, p.pc.ConnectionState())
	})
}

func (p *Peer) stepWaitFor(c *stepContext) error {
	if !c.acted {
		return nil
	}
	s := c.step
	read := func() string {
		switch s.Of {
		case "ice":
			return p.pc.ICEConnectionState().String()
		case "connection":
			return p.pc.ConnectionState().String()
		case "gathering":
			return p.pc.ICEGatheringState().String()
		case "signaling":
			return p.pc.SignalingState().String()
		case "channel":
			if e := p.channel(s.Channel); e != nil {
				return e.dc.ReadyState().String()
			}
			return "(not created)"
		}
		return "(unknown: " + s.Of + ")"
	}
	return c.wait(func() bool { return read() == s.State }, func() string {
		return fmt.Sprintf("%s never became `%s` %s; last saw `%s`", s.Of, s.State, c.within, read())
	})
}

func containsAny(text string, parts ...string) bool {
	for _, part := range parts {
		if strings.Contains(text, part) {
			return true
		}
	}
	return false
}
