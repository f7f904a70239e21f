// Command pion-peer is the rtc-interop peer of kind `pion`: pion/webrtc v3 (Go) playing one side
// of a case. The harness starts it as `pion-peer --plan PLAN.json --observations OUT.json`
// (docs/external-peers.md); it joins the relay room of the plan, plays its role and the plan's
// steps with pion's PeerConnection, and reports what it saw in OUT.json, the same document the
// browser page (fixtures/browser/peer.js) and the native peer report.
//
// The files: plan.go (the plan), observe.go (the observations), signaling.go (the relay, offers,
// answers, candidates), steps.go (the steps), channels.go (data channels, messages, echoes),
// media.go (tracks from the fixture clips, and what arrives).
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v3"
)

// pionVersion is the pion/webrtc release this program is built against: install.sh sets it to
// the version of Debian's golang-github-pion-webrtc.v3-dev it builds with.
var pionVersion = "3.1.56"

const (
	// How often the observations are written while something changes.
	writeInterval = 250 * time.Millisecond
	// How long this side waits for the other side's end-of-candidates once its steps are done.
	endOfCandidatesGrace = 2 * time.Second
	// How long joining the relay may take.
	joinTimeout = 5 * time.Second
	// How long closing the connection may take.
	closeTimeout = 1 * time.Second
	// How long a finishing side waits for state changes pion has not reported yet.
	settleTimeout = 1 * time.Second
	// The longest a finished peer stays to keep echoing and answering for the other side (it
	// leaves at once on `bye`, when the relay closes, or on SIGTERM).
	maxLinger = 60 * time.Second
	// How often waits look at what they wait for.
	pollInterval = 10 * time.Millisecond
)

// Peer is one side of a case.
type Peer struct {
	plan    *Plan
	outPath string
	pc      *webrtc.PeerConnection
	media   *mediaState

	// mu guards obs and every field below it. It is never held while calling into pion, whose
	// callbacks take it.
	mu                sync.Mutex
	obs               Observations
	dirty             bool
	wake              chan struct{} // closed (and replaced) on every change: waits look again
	knownPeers        map[string]bool
	makingOffer       bool // perfect negotiation: an offer of ours is being made
	ignoreOffer       bool // perfect negotiation: the last offer collided and was ignored
	remoteOffersTaken int  // offers of the other side's this side began to answer
	roundLocalBase    int  // local candidates when the current offer/answer round began
	roundRemoteBase   int  // remote candidates when the current offer/answer round began
	answering         bool // an offer of the other side's is being answered
	pending           []webrtc.ICECandidateInit
	channels          map[string]*channelEntry
	currentStep       int
	finalRead         bool
	leaving           bool // this side closed its WebSocket on purpose
	exiting           bool // the program is leaving: no change is recorded any more
	socketClosed      bool
	closed            bool // the connection was closed (hang-up or bye)
	closeRecorded     bool // ... and its `closed` states are in the observations
	remoteUfrag       string
	// Where the remote candidates of the current ICE generation begin in obs.RemoteCandidates.
	remoteGenerationStart int
	localFirstMid         string // the mid trickled candidates name
	gatheringDone         int    // how many times gathering reached `complete`

	// candMu orders this side's candidates after its description: while candidateHolds > 0
	// (a description of ours is being made) they wait in heldCandidates. Taken before mu/wsMu.
	candMu         sync.Mutex
	candidateHolds int
	heldCandidates []map[string]interface{}

	ws   *websocket.Conn
	wsMu sync.Mutex
}

func main() {
	planPath := flag.String("plan", "", "the plan (JSON) of this side")
	outPath := flag.String("observations", "", "where to write the observations (JSON)")
	version := flag.Bool("version", false, "print pion/webrtc's version and exit")
	flag.Parse()
	if *version {
		fmt.Println(pionVersion)
		return
	}
	if *planPath == "" || *outPath == "" {
		fmt.Fprintln(os.Stderr, "usage: pion-peer --plan PLAN.json --observations OBSERVATIONS.json")
		os.Exit(2)
	}
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	log.SetOutput(os.Stderr)
	plan, err := readPlan(*planPath)
	if err != nil {
		log.Fatalf("cannot read the plan: %v", err)
	}
	p := &Peer{
		plan:          plan,
		outPath:       *outPath,
		obs:           newObservations(),
		knownPeers:    map[string]bool{},
		channels:      map[string]*channelEntry{},
		currentStep:   -1,
		wake:          make(chan struct{}),
		localFirstMid: "0",
	}
	p.writeObservations()
	go p.onSigterm()
	go p.writeLoop()

	if err := p.start(); err != nil {
		p.errorf("start", "%v", err)
	} else {
		// Finished, whether every step passed or one failed: stay up for the other side (it may
		// still wait for echoes or end-of-candidates) and keep reporting (docs/external-peers.md).
		p.runSteps()
		p.linger()
	}
	p.finish()
	// The tear-down at exit is not reported: the case is judged on the connection as it was
	// while it ran (`closed` only when a hang_up step or the other side's bye closed it).
	p.mu.Lock()
	p.exiting = true
	p.mu.Unlock()
	p.writeObservations()
	p.closeQuietly()
	p.closeSocket()
	log.Printf("done")
}

// start makes the connection and joins the relay room.
func (p *Peer) start() error {
	api, err := p.newAPI()
	if err != nil {
		return err
	}
	config := webrtc.Configuration{ICEServers: []webrtc.ICEServer{}}
	for _, s := range p.plan.ICEServers {
		server := webrtc.ICEServer{URLs: s.URLs}
		if s.Username != "" || s.Credential != "" {
			server.Username = s.Username
			server.Credential = s.Credential
			server.CredentialType = webrtc.ICECredentialTypePassword
		}
		config.ICEServers = append(config.ICEServers, server)
	}
	if p.plan.ICETransportPolicy == "relay" {
		config.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	pc, err := api.NewPeerConnection(config)
	if err != nil {
		return fmt.Errorf("NewPeerConnection: %w", err)
	}
	p.pc = pc
	p.update(func(o *Observations) {
		at := nowMs()
		o.ICEConnectionStates = append(o.ICEConnectionStates, Transition{pc.ICEConnectionState().String(), at})
		o.ConnectionStates = append(o.ConnectionStates, Transition{pc.ConnectionState().String(), at})
		o.ICEGatheringStates = append(o.ICEGatheringStates, Transition{pc.ICEGatheringState().String(), at})
		o.SignalingStates = append(o.SignalingStates, Transition{pc.SignalingState().String(), at})
	})
	pc.OnICECandidate(p.onLocalCandidate)
	pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		p.recordState("ice", &p.obs.ICEConnectionStates, s.String())
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		p.recordState("connection", &p.obs.ConnectionStates, s.String())
	})
	pc.OnICEGatheringStateChange(func(s webrtc.ICEGathererState) {
		state := webrtc.ICEGatheringStateGathering.String()
		switch s {
		case webrtc.ICEGathererStateNew:
			state = webrtc.ICEGatheringStateNew.String()
		case webrtc.ICEGathererStateComplete:
			state = webrtc.ICEGatheringStateComplete.String()
			p.mu.Lock()
			p.gatheringDone++
			p.mu.Unlock()
		case webrtc.ICEGathererStateClosed:
			return // not a W3C gathering state: the connection is closing
		}
		p.recordState("gathering", &p.obs.ICEGatheringStates, state)
	})
	pc.OnSignalingStateChange(func(s webrtc.SignalingState) {
		p.recordState("signaling", &p.obs.SignalingStates, s.String())
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) { p.adoptChannel(dc, true) })
	pc.OnTrack(p.onTrack)
	return p.join()
}

// newAPI is pion's API for this side: its codecs (the media engine, narrowed to the codecs this
// side's add_track steps prefer), the default interceptors, and the settings.
func (p *Peer) newAPI() (*webrtc.API, error) {
	settings := webrtc.SettingEngine{}
	logs := logging.NewDefaultLoggerFactory()
	if os.Getenv("RTC_INTEROP_DEBUG") == "1" {
		logs.DefaultLogLevel = logging.LogLevelDebug
	}
	settings.LoggerFactory = logs
	media, engine, registry, err := newMediaEngine(p)
	if err != nil {
		return nil, err
	}
	p.media = media
	return webrtc.NewAPI(
		webrtc.WithSettingEngine(settings),
		webrtc.WithMediaEngine(engine),
		webrtc.WithInterceptorRegistry(registry),
	), nil
}

// ---- The observations ----

// update changes the observations under the lock and marks them for writing.
func (p *Peer) update(change func(o *Observations)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exiting {
		return // the tear-down at exit is not reported
	}
	change(&p.obs)
	p.dirty = true
	p.wakeWaiters()
}

// wakeWaiters makes every wait look at its condition again (called with mu held).
func (p *Peer) wakeWaiters() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// changed is a channel closed at the next change of the observations.
func (p *Peer) changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wake
}

func (p *Peer) recordState(what string, list *[]Transition, state string) {
	p.mu.Lock()
	if p.exiting {
		p.mu.Unlock()
		return // the tear-down at exit is not reported
	}
	if n := len(*list); n > 0 && (*list)[n-1].State == state {
		p.mu.Unlock()
		return // pion reports some changes twice, or after closeConnection read them
	}
	*list = append(*list, Transition{state, nowMs()})
	p.dirty = true
	p.wakeWaiters()
	p.mu.Unlock()
	log.Printf("state: %s %s", what, state)
}

// errorf records something that went wrong, `where: what`.
func (p *Peer) errorf(where, format string, args ...interface{}) {
	text := where + ": " + fmt.Sprintf(format, args...)
	p.update(func(o *Observations) { o.Errors = append(o.Errors, text) })
	log.Printf("error: %s", text)
}

// note keeps a line of this side's own log in the observations' console as well as on stderr.
func (p *Peer) note(format string, args ...interface{}) {
	text := fmt.Sprintf(format, args...)
	p.update(func(o *Observations) {
		o.Console = append(o.Console, time.Now().UTC().Format(time.RFC3339Nano)+" info: "+text)
	})
	log.Print(text)
}

func (p *Peer) writeObservations() {
	p.mu.Lock()
	data, err := marshalObservations(&p.obs)
	p.dirty = false
	p.mu.Unlock()
	if err == nil {
		err = writeFileAtomically(p.outPath, data)
	}
	if err != nil {
		log.Printf("cannot write the observations to %s: %v", p.outPath, err)
	}
}

func (p *Peer) writeLoop() {
	for range time.Tick(writeInterval) {
		p.mu.Lock()
		dirty := p.dirty
		p.mu.Unlock()
		if dirty {
			p.writeObservations()
		}
	}
}

// onSigterm: the case's time is up. What was seen is written, finished, and the program exits
// well within the 2 s the harness gives.
func (p *Peer) onSigterm() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	sig := <-signals
	log.Printf("%v: writing the observations and leaving", sig)
	done := make(chan struct{})
	go func() {
		p.readFinal()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(500 * time.Millisecond):
	}
	written := make(chan struct{})
	go func() {
		p.update(func(o *Observations) { o.Finished = true })
		p.writeObservations()
		close(written)
	}()
	select {
	case <-written:
		log.Printf("observations written: exiting")
	case <-time.After(time.Second):
		// Something holds the observations: show where every goroutine is, for the report.
		stacks := make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		log.Printf("the observations could not be written within 1 s; goroutines:\n%s", stacks)
	}
	os.Exit(0)
}

// ---- The end ----

// finish reads the final evidence and marks the observations finished.
func (p *Peer) finish() {
	p.settleStates()
	p.readFinal()
	p.update(func(o *Observations) { o.Finished = true })
	p.writeObservations()
}

// settleStates waits, at most settleTimeout, for state changes pion has made but not reported
// yet, so that the last observations hold them. pion reports its connection state from a
// goroutine of its own (peerconnection.go onConnectionStateChange: `go handler(cs)`) after
// storing it, and its ICE states from the ICE agent's notification goroutine, while data already
// flows: a side can end its steps before those reports run.
func (p *Peer) settleStates() {
	deadline := time.Now().Add(settleTimeout)
	for p.statesInFlight() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// statesInFlight: the connection state pion holds is not the last one reported, or a channel is
// open (so ICE connected: pion opens channels over a connected ICE transport only) while no
// `connected` or `completed` ICE state was reported yet.
func (p *Peer) statesInFlight() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pc == nil || p.closed {
		return false // closeConnection records the final states itself
	}
	states := p.obs.ConnectionStates
	if n := len(states); n == 0 || states[n-1].State != p.pc.ConnectionState().String() {
		return true
	}
	channelOpen := false
	for _, c := range p.obs.Channels {
		channelOpen = channelOpen || c.OpenedAtMs != nil
	}
	if !channelOpen {
		return false
	}
	for _, t := range p.obs.ICEConnectionStates {
		if t.State == "connected" || t.State == "completed" {
			return false
		}
	}
	return true
}

// readFinal reads the selected candidate pair, once, while the connection is still up.
func (p *Peer) readFinal() {
	p.mu.Lock()
	if p.finalRead || p.pc == nil {
		p.mu.Unlock()
		return
	}
	p.finalRead = true
	p.mu.Unlock()
	if p.media != nil {
		p.media.sample(p)
	}
	pair := p.selectedPair()
	p.update(func(o *Observations) {
		if o.SelectedPair == nil {
			o.SelectedPair = pair
		}
	})
}

// selectedPair is the pair pion's ICE transport selected (nil before one is).
func (p *Peer) selectedPair() *SelectedPair {
	sctp := p.pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return nil
	}
	pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local == nil || pair.Remote == nil {
		return nil
	}
	end := func(c *webrtc.ICECandidate) PairEnd {
		e := PairEnd{
			Type:     c.Typ.String(),
			Protocol: strings.ToLower(c.Protocol.String()),
			Address:  c.Address,
			Port:     c.Port,
		}
		return e
	}
	local := end(pair.Local)
	if local.Type == "relay" {
		local.RelayProtocol = p.relayProtocolOf(pair.Local)
	}
	return &SelectedPair{Local: local, Remote: end(pair.Remote)}
}

// relayProtocolOf is how a local relay candidate reaches its TURN server, from pion's stats.
func (p *Peer) relayProtocolOf(c *webrtc.ICECandidate) string {
	for _, s := range p.pc.GetStats() {
		if stats, ok := s.(webrtc.ICECandidateStats); ok && stats.Type == webrtc.StatsTypeLocalCandidate &&
			stats.IP == c.Address && uint16(stats.Port) == c.Port && stats.RelayProtocol != "" {
			return strings.ToLower(stats.RelayProtocol)
		}
	}
	return ""
}

// closeConnection closes the connection (once) and records the states `closed`.
func (p *Peer) closeConnection() {
	p.mu.Lock()
	if p.closed || p.pc == nil {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	if p.media != nil {
		p.media.stop()
	}
	done := make(chan error, 1)
	go func() { done <- p.pc.Close() }()
	select {
	case err := <-done:
		if err != nil {
			log.Printf("closing the connection: %v", err)
		}
	case <-time.After(closeTimeout):
		log.Printf("closing the connection took over %v; going on", closeTimeout)
	}
	at := nowMs()
	p.update(func(o *Observations) {
		record := func(list *[]Transition, state string) {
			if n := len(*list); n == 0 || (*list)[n-1].State != state {
				*list = append(*list, Transition{state, at})
			}
		}
		// After close() every state is `closed` (W3C); pion fires some of these late or not at
		// all (the signaling state; the connection state once Close() returns, which can take
		// over closeTimeout), so they are recorded here.
		record(&o.ConnectionStates, "closed")
		record(&o.ICEConnectionStates, "closed")
		record(&o.SignalingStates, "closed")
		p.closeRecorded = true
		for _, c := range o.Channels {
			if c.ClosedAtMs == nil {
				c.ClosedAtMs = &at
			}
		}
	})
}

// closeQuietly closes the connection at exit without recording anything: pion's callbacks
// are ignored from here on (exiting), and the observations were written before.
func (p *Peer) closeQuietly() {
	p.mu.Lock()
	if p.closed || p.pc == nil {
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	if p.media != nil {
		p.media.stop()
	}
	done := make(chan error, 1)
	go func() { done <- p.pc.Close() }()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		log.Printf("closing the connection took over %v; going on", closeTimeout)
	}
}

// linger keeps a finished side up for the other one (it echoes, answers, closes on `bye`) until
// `bye`, the relay closes, or SIGTERM; at most maxLinger.
func (p *Peer) linger() {
	p.finish()
	deadline := time.Now().Add(maxLinger)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		over := p.closed || p.socketClosed || p.leaving
		p.mu.Unlock()
		if over {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Printf("nothing ended the case within %v of finishing: leaving", maxLinger)
}
