package main

// Data channels: their logs, the `send`, `expect_echo` and `close_channel` steps, the echo on
// channels the other side opened, and the messages every peer kind builds the same way.

import (
	"bytes"
	"fmt"
	"log"
	"regexp"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v3"
)

const (
	// What a description without `a=max-message-size` allows (RFC 8841).
	defaultMaxMessageSize = 65536
	// The largest message a `send` step sends (MAX_SENT_MESSAGE_BYTES on the Rust side).
	maxSentMessageBytes = 16 * 1024 * 1024
)

type channelEntry struct {
	dc        *webrtc.DataChannel
	log       *DataChannelLog
	unmatched [][]byte // messages sent and not yet echoed back
	// tooBigToComeBack counts messages sent larger than this side advertises: the echoer may not
	// send them back (RFC 8841 §6), so expect_echo does not wait for them.
	tooBigToComeBack int
}

func (p *Peer) channel(label string) *channelEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.channels[label]
}

// adoptChannel logs a channel this side created (echoes: it is the counterpart of a negotiated
// one) or the other side announced (echoes), and follows its events.
func (p *Peer) adoptChannel(dc *webrtc.DataChannel, echoes bool) {
	entry := &channelEntry{dc: dc, log: &DataChannelLog{Label: dc.Label(), ID: dc.ID(), Echoes: echoes, SendErrors: []string{}}}
	p.update(func(o *Observations) {
		o.Channels = append(o.Channels, entry.log)
		p.channels[dc.Label()] = entry
	})
	opened := func() {
		p.update(func(o *Observations) { markOpen(entry, dc) })
		log.Printf("channel `%s`: open (id %v)", dc.Label(), describeID(dc.ID()))
	}
	dc.OnOpen(opened)
	if dc.ReadyState() == webrtc.DataChannelStateOpen {
		opened()
	}
	dc.OnClose(func() {
		p.update(func(o *Observations) {
			if entry.log.ClosedAtMs == nil {
				at := nowMs()
				entry.log.ClosedAtMs = &at
			}
		})
		log.Printf("channel `%s`: close fired", dc.Label())
	})
	dc.OnError(func(err error) {
		p.mu.Lock()
		closing := p.closed
		p.mu.Unlock()
		if closing || strings.Contains(err.Error(), "non-established state") {
			// pion reports the stream reset it cannot send once the association is gone (the
			// other side closed the connection): part of closing, not a failure.
			p.note("channel `%s`: error while closing: %v", dc.Label(), err)
		} else {
			p.errorf(fmt.Sprintf("channel `%s`", dc.Label()), "%v", err)
		}
	})
	dc.OnMessage(func(m webrtc.DataChannelMessage) { p.onChannelMessage(entry, m) })
}

func describeID(id *uint16) string {
	if id == nil {
		return "unset"
	}
	return strconv.Itoa(int(*id))
}

// markOpen notes when a channel opened, the first time it is seen open. pion calls OnOpen on a
// goroutine of its own once the DATA_CHANNEL_ACK arrives (datachannel.go), while it delivers
// messages directly: a message, or a step that saw the channel open, can come first.
func markOpen(entry *channelEntry, dc *webrtc.DataChannel) {
	if entry.log.OpenedAtMs == nil {
		at := nowMs()
		entry.log.OpenedAtMs = &at
	}
	entry.log.ID = dc.ID()
}

// onChannelMessage echoes on a channel the other side opened; elsewhere, it matches what came
// back with what was sent.
func (p *Peer) onChannelMessage(entry *channelEntry, m webrtc.DataChannelMessage) {
	p.update(func(o *Observations) {
		markOpen(entry, entry.dc)
		entry.log.MessagesReceived++
		entry.log.BytesReceived += len(m.Data)
	})
	if entry.log.Echoes {
		var err error
		if m.IsString {
			err = entry.dc.SendText(string(m.Data))
		} else {
			err = entry.dc.Send(m.Data)
		}
		p.update(func(o *Observations) {
			if err != nil {
				entry.log.SendErrors = append(entry.log.SendErrors, err.Error())
			} else {
				entry.log.MessagesEchoed++
			}
		})
		return
	}
	p.update(func(o *Observations) {
		if entry.log.Echo != nil && entry.log.Echo.Received == nil {
			text := describeData(m.Data, m.IsString)
			at := nowMs()
			entry.log.Echo.Received = &text
			entry.log.Echo.ReceivedAtMs = &at
		}
		for i, sent := range entry.unmatched {
			if bytes.Equal(sent, m.Data) {
				entry.unmatched = append(entry.unmatched[:i], entry.unmatched[i+1:]...)
				entry.log.EchoesMatched++
				break
			}
		}
	})
}

func describeData(data []byte, isString bool) string {
	if isString {
		return string(data)
	}
	return fmt.Sprintf("<binary %d bytes>", len(data))
}

var maxMessageSizeLine = regexp.MustCompile(`(?m)^a=max-message-size:(\d+)`)

// advertisedMaxMessageSize is a description's a=max-message-size (65536 when absent).
func advertisedMaxMessageSize(d *webrtc.SessionDescription) int {
	if d != nil {
		if m := maxMessageSizeLine.FindStringSubmatch(d.SDP); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil {
				return n
			}
		}
	}
	return defaultMaxMessageSize
}

// mayComeBack is scenario::steps::may_come_back: whether the echoer may send a message of n bytes
// back to a side that advertises own (0: no limit).
func mayComeBack(n, own int) bool {
	return own == 0 || n <= own
}

// makeMessage is message i of a send step: the same bytes on every peer kind.
func (p *Peer) makeMessage(s *Step, i, size int) []byte {
	text := p.plan.EchoMessage
	if s.Text != nil {
		text = *s.Text
	}
	base := text
	if s.count() != 1 {
		base = fmt.Sprintf("%s #%d", text, i+1)
	}
	if s.flag(s.Binary, false) {
		n := size
		if n < 0 {
			n = len(base)
		}
		data := make([]byte, n)
		for k := range data {
			data[k] = byte((i + k) % 251)
		}
		return data
	}
	if size < 0 || base == "" {
		return []byte(base)
	}
	return []byte(strings.Repeat(base, size/len(base)+1)[:size])
}

func skipReason(bytes, advertised int) string {
	return fmt.Sprintf("not sent: %d bytes (the other side advertises max-message-size %d) is more than the %d bytes the harness sends",
		bytes, advertised, maxSentMessageBytes)
}

// messagesSentUpTo: every message the send steps up to `index` put on `label` (those not
// refused nor skipped).
func (p *Peer) messagesSentUpTo(index int, label string) int {
	total := 0
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := 0; i <= index && i < len(p.plan.Steps); i++ {
		s := &p.plan.Steps[i]
		if s.Do != "send" || s.Channel != label || s.flag(s.ExpectError, false) {
			continue
		}
		if i < len(p.obs.Steps) && p.obs.Steps[i].Skipped != nil {
			continue
		}
		total += s.count()
	}
	return total
}

func (p *Peer) stepSend(c *stepContext) error {
	s := c.step
	label := s.Channel
	if !c.acted {
		// The acting side resolves a relative size against what this side advertises.
		advertised := advertisedMaxMessageSize(p.pc.LocalDescription())
		size, err := s.resolveSize(advertised)
		if err != nil {
			return stepFailure{err.Error()}
		}
		if size > maxSentMessageBytes {
			reason := skipReason(size, advertised)
			p.update(func(o *Observations) { c.log.Skipped = &reason })
			return nil
		}
		if s.flag(s.ExpectError, false) {
			return nil
		}
		expected := p.messagesSentUpTo(c.index, label)
		received := func() int {
			p.mu.Lock()
			defer p.mu.Unlock()
			if e := p.channels[label]; e != nil {
				return e.log.MessagesReceived
			}
			return 0
		}
		return c.wait(func() bool { return received() >= expected }, func() string {
			return fmt.Sprintf("%d of %d messages arrived on `%s` %s", received(), expected, label, c.within)
		})
	}
	entry, err := p.openedChannel(c, label)
	if err != nil {
		return err
	}
	advertised := advertisedMaxMessageSize(p.pc.RemoteDescription())
	size, err := s.resolveSize(advertised)
	if err != nil {
		return stepFailure{err.Error()}
	}
	if size > maxSentMessageBytes {
		reason := skipReason(size, advertised)
		p.update(func(o *Observations) { c.log.Skipped = &reason })
		return nil
	}
	own := advertisedMaxMessageSize(p.pc.LocalDescription())
	accepted := []int{}
	refused := []string{}
	for i := 0; i < s.count(); i++ {
		data := p.makeMessage(s, i, size)
		binary := s.flag(s.Binary, false)
		sentAt := nowMs()
		if binary {
			err = entry.dc.Send(data)
		} else {
			err = entry.dc.SendText(string(data))
		}
		if err != nil {
			text := err.Error()
			p.update(func(o *Observations) { entry.log.SendErrors = append(entry.log.SendErrors, text) })
			refused = append(refused, fmt.Sprintf("sending %d bytes on `%s` failed: %s", len(data), label, text))
			continue
		}
		accepted = append(accepted, len(data))
		p.update(func(o *Observations) {
			entry.log.MessagesSent++
			entry.log.BytesSent += len(data)
			entry.unmatched = append(entry.unmatched, data)
			if !mayComeBack(len(data), own) {
				entry.tooBigToComeBack++
			}
			if entry.log.Echo == nil {
				entry.log.Echo = &EchoLog{Sent: describeData(data, !binary), SentAtMs: sentAt}
			}
		})
	}
	if s.flag(s.ExpectError, false) && len(accepted) > 0 {
		return stepFailure{fmt.Sprintf("sent %d bytes on `%s` without an error, although the other side advertises max-message-size %d",
			accepted[0], label, advertised)}
	}
	if !s.flag(s.ExpectError, false) && len(refused) > 0 {
		return stepFailure{refused[0]}
	}
	return nil
}

func (p *Peer) openedChannel(c *stepContext, label string) (*channelEntry, error) {
	state := func() string {
		if e := p.channel(label); e != nil {
			return e.dc.ReadyState().String()
		}
		return "absent"
	}
	err := c.wait(func() bool { return state() == "open" }, func() string {
		return fmt.Sprintf("channel `%s` never opened %s (it was `%s`)", label, c.within, state())
	})
	if err != nil {
		return nil, err
	}
	entry := p.channel(label)
	p.update(func(o *Observations) { markOpen(entry, entry.dc) })
	return entry, nil
}

func (p *Peer) stepExpectEcho(c *stepContext) error {
	if !c.acted {
		return nil
	}
	label := c.step.Channel
	counts := func() (matched, wanted int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if e := p.channels[label]; e != nil {
			return e.log.EchoesMatched, e.log.MessagesSent - e.tooBigToComeBack
		}
		return 0, 0
	}
	return c.wait(func() bool {
		matched, wanted := counts()
		return p.channel(label) != nil && matched >= wanted
	}, func() string {
		matched, wanted := counts()
		return fmt.Sprintf("%d of %d messages came back on `%s` %s", matched, wanted, label, c.within)
	})
}

func (p *Peer) stepCloseChannel(c *stepContext) error {
	label := c.step.Channel
	closedLogged := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		e := p.channels[label]
		return e != nil && e.log.ClosedAtMs != nil
	}
	never := func() string { return fmt.Sprintf("channel `%s` never closed %s", label, c.within) }
	if !c.acted {
		return c.wait(closedLogged, never)
	}
	err := c.wait(func() bool { return p.channel(label) != nil }, func() string {
		return fmt.Sprintf("channel `%s` was never announced %s", label, c.within)
	})
	if err != nil {
		return err
	}
	entry := p.channel(label)
	if err := entry.dc.Close(); err != nil {
		p.note("channel `%s`: close(): %v", label, err)
	}
	err = c.wait(func() bool { return entry.dc.ReadyState() == webrtc.DataChannelStateClosed }, never)
	if err != nil {
		return err
	}
	p.update(func(o *Observations) {
		if entry.log.ClosedAtMs == nil {
			at := nowMs()
			entry.log.ClosedAtMs = &at
		}
	})
	return nil
}
