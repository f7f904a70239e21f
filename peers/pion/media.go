package main

// Media: a track of an add_track step sends one of the harness's encoded clips
// (fixtures/media/, embedded at build time by install.sh) at its real frame rate, looping, as
// the native peer does; a received track is counted — packets, bytes, and frames reassembled by
// pion's sample builder and depacketizers (this peer does not decode: a frozen picture shows as
// a frame count that stops growing, a black one cannot be told).
//
// pion 3.1.56 has no RTP stats for media in GetStats(), so packets sent and the NACKs and PLIs
// each way are counted by a small interceptor of this peer's (mediaCounter).

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
	"github.com/pion/webrtc/v3/pkg/media/ivfreader"
	"github.com/pion/webrtc/v3/pkg/media/oggreader"
	"github.com/pion/webrtc/v3/pkg/media/samplebuilder"
)

//go:embed clips
var clipFiles embed.FS

const (
	mediaSampleInterval = 500 * time.Millisecond // MEDIA_SAMPLE_INTERVAL_MS on the Rust side
	videoFrame          = time.Second / 30       // every fixture clip runs at 30 fps
	// How many of the latest looks judge whether a received picture moves (LOOKS_JUDGED on the
	// Rust side).
	looksJudged = 3
	// How long a track waits for the connection before it gives up sending.
	sendWaitLimit = 60 * time.Second
)

// codecEntry is a codec this peer can register: pion's defaults (MediaEngine.RegisterDefaultCodecs)
// plus AV1, which pion 3.1.56 can send and receive but does not register by default.
type codecEntry struct {
	kind        string
	mime        string
	fmtp        string
	payloadType webrtc.PayloadType
	rtx         webrtc.PayloadType // 0: none
}

var knownCodecs = []codecEntry{
	{"audio", webrtc.MimeTypeOpus, "minptime=10;useinbandfec=1", 111, 0},
	{"audio", webrtc.MimeTypeG722, "", 9, 0},
	{"audio", webrtc.MimeTypePCMU, "", 0, 0},
	{"audio", webrtc.MimeTypePCMA, "", 8, 0},
	{"video", webrtc.MimeTypeVP8, "", 96, 97},
	{"video", webrtc.MimeTypeVP9, "profile-id=0", 98, 99},
	{"video", webrtc.MimeTypeVP9, "profile-id=1", 100, 101},
	{"video", webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 102, 121},
	{"video", webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f", 127, 120},
	{"video", webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 125, 107},
	{"video", webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f", 108, 109},
	{"video", webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", 123, 118},
	{"video", webrtc.MimeTypeAV1, "", 45, 46},
}

// clip is an encoded fixture file this peer can send.
type clip struct {
	name, mime, fmtp, file string
}

var clips = []clip{
	{"VP8", webrtc.MimeTypeVP8, "", "video-vp8.ivf"},
	{"VP9", webrtc.MimeTypeVP9, "profile-id=0", "video-vp9.ivf"},
	{"H264", webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", "video-h264.h264"},
	{"AV1", webrtc.MimeTypeAV1, "", "video-av1.ivf"},
	{"opus", webrtc.MimeTypeOpus, "minptime=10;useinbandfec=1", "audio-opus.ogg"},
}

type clipFrame struct {
	data     []byte
	duration time.Duration
	key      bool
}

// mediaState is every track this side sends or receives.
type mediaState struct {
	peer     *Peer
	mu       sync.Mutex
	outbound map[uint32]*MediaTrackLog // by SSRC
	inbound  map[uint32]*MediaTrackLog
	sampling bool
	stopped  chan struct{}
	stopOnce sync.Once
}

func clockRate(kind string) uint32 {
	if kind == "audio" {
		return 48000
	}
	return 90000
}

func channelsOf(kind string) uint16 {
	if kind == "audio" {
		return 2
	}
	return 0
}

var videoFeedback = []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}}

// newMediaEngine registers every codec this peer knows — or, for a kind whose add_track steps
// (of this side) name codecs, only the matching ones, in that order (the counterpart of
// setCodecPreferences) — plus pion's default interceptors and this peer's counter.
func newMediaEngine(p *Peer) (*mediaState, *webrtc.MediaEngine, *interceptor.Registry, error) {
	state := &mediaState{peer: p, outbound: map[uint32]*MediaTrackLog{}, inbound: map[uint32]*MediaTrackLog{}, stopped: make(chan struct{})}
	engine := &webrtc.MediaEngine{}
	for _, kind := range []string{"audio", "video"} {
		preferred := p.preferredCodecs(kind)
		chosen := []codecEntry{}
		for _, spec := range preferred {
			for _, c := range knownCodecs {
				if c.kind == kind && codecMatches(spec, c.mime, c.fmtp) && !containsCodec(chosen, c) {
					chosen = append(chosen, c)
				}
			}
		}
		if len(preferred) == 0 {
			for _, c := range knownCodecs {
				if c.kind == kind {
					chosen = append(chosen, c)
				}
			}
		}
		codecType := webrtc.RTPCodecTypeAudio
		feedback := []webrtc.RTCPFeedback(nil)
		if kind == "video" {
			codecType = webrtc.RTPCodecTypeVideo
			feedback = videoFeedback
		}
		for _, c := range chosen {
			err := engine.RegisterCodec(webrtc.RTPCodecParameters{
				RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: clockRate(kind), Channels: channelsOf(kind), SDPFmtpLine: c.fmtp, RTCPFeedback: feedback},
				PayloadType:        c.payloadType,
			}, codecType)
			if err == nil && c.rtx != 0 {
				err = engine.RegisterCodec(webrtc.RTPCodecParameters{
					RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "video/rtx", ClockRate: 90000, SDPFmtpLine: fmt.Sprintf("apt=%d", c.payloadType)},
					PayloadType:        c.rtx,
				}, codecType)
			}
			if err != nil {
				return nil, nil, nil, fmt.Errorf("registering %s %s failed: %w", c.mime, c.fmtp, err)
			}
		}
	}
	registry := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(engine, registry); err != nil {
		return nil, nil, nil, fmt.Errorf("registering the default interceptors failed: %w", err)
	}
	registry.Add(&mediaCounterFactory{state})
	return state, engine, registry, nil
}

func containsCodec(list []codecEntry, c codecEntry) bool {
	for _, have := range list {
		if have == c {
			return true
		}
	}
	return false
}

// preferredCodecs: the codec specs this side's add_track steps of `kind` name, in order.
func (p *Peer) preferredCodecs(kind string) []string {
	specs := []string{}
	for _, s := range p.plan.Steps {
		if s.Do == "add_track" && s.Kind == kind && (s.By == p.plan.Role || s.By == "both") {
			specs = append(specs, s.Codecs...)
		}
	}
	return specs
}

// fmtp parameters whose absence means a value (IMPLIED_PARAMS on the Rust side).
var impliedParams = map[string]string{
	"vp9 profile-id": "0", "av1 profile": "0", "av1 level-idx": "5", "av1 tier": "0", "h264 packetization-mode": "0",
}

func fmtpParams(fmtp string) [][2]string {
	params := [][2]string{}
	for _, part := range strings.Split(fmtp, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if at := strings.Index(part, "="); at >= 0 {
			params = append(params, [2]string{strings.TrimSpace(part[:at]), strings.TrimSpace(part[at+1:])})
		} else {
			params = append(params, [2]string{part, ""})
		}
	}
	return params
}

// codecMatches: a codec named `name` (`VP9` or `video/VP9`) with `fmtp` matches the codec spec
// `spec` (`NAME[;key=value…]`) — CodecSpec::matches on the Rust side.
func codecMatches(spec, name, fmtp string) bool {
	parts := strings.SplitN(spec, ";", 2)
	specName := strings.TrimSpace(parts[0])
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if !strings.EqualFold(specName, name) {
		return false
	}
	if len(parts) == 1 {
		return true
	}
	given := fmtpParams(fmtp)
	for _, kv := range fmtpParams(parts[1]) {
		actual, found := "", false
		for _, g := range given {
			if strings.EqualFold(g[0], kv[0]) {
				actual, found = g[1], true
			}
		}
		if !found {
			actual, found = impliedParams[strings.ToLower(specName)+" "+strings.ToLower(kv[0])]
		}
		if !found || !strings.EqualFold(actual, kv[1]) {
			return false
		}
	}
	return true
}

// ---- Sending ----

// chooseClip: the first of the step's codecs there is a clip for, else VP8 / Opus.
func chooseClip(kind string, preferred []string) (clip, error) {
	var ofKind []clip
	for _, c := range clips {
		if strings.HasPrefix(c.mime, kind+"/") {
			ofKind = append(ofKind, c)
		}
	}
	if len(preferred) == 0 {
		return ofKind[0], nil
	}
	for _, spec := range preferred {
		for _, c := range ofKind {
			if codecMatches(spec, c.mime, c.fmtp) {
				return c, nil
			}
		}
	}
	names := []string{}
	for _, c := range ofKind {
		names = append(names, c.name)
	}
	return clip{}, fmt.Errorf("the pion peer has no %s clip in any of the preferred codecs %s (it sends %s)",
		kind, strings.Join(preferred, ", "), strings.Join(names, ", "))
}

// readClip is the frames of a clip file, as the codec's reader gives them.
func readClip(c clip) ([]clipFrame, error) {
	data, err := clipFiles.ReadFile("clips/" + c.file)
	if err != nil {
		return nil, err
	}
	frames := []clipFrame{}
	switch c.name {
	case "opus":
		ogg, _, err := oggreader.NewWith(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		var lastGranule uint64
		for {
			page, header, err := ogg.ParseNextPage()
			if err != nil {
				break
			}
			samples := header.GranulePosition - lastGranule
			lastGranule = header.GranulePosition
			if header.GranulePosition == 0 || samples == 0 {
				continue // the header pages carry no audio
			}
			frames = append(frames, clipFrame{page, time.Duration(samples) * time.Second / 48000, false})
		}
	case "H264":
		frames = h264AccessUnits(data)
	default:
		ivf, _, err := ivfreader.NewWith(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		for {
			frame, _, err := ivf.ParseNextFrame()
			if err != nil {
				break
			}
			frames = append(frames, clipFrame{frame, videoFrame, isKeyFrame(c.name, frame)})
		}
	}
	if len(frames) == 0 {
		return nil, errors.New("no frames")
	}
	return frames, nil
}

// h264AccessUnits splits an Annex-B stream into access units: parameter sets and SEI go with
// the slice that follows them (every fixture frame is one slice).
func h264AccessUnits(stream []byte) []clipFrame {
	frames := []clipFrame{}
	pending := []byte{}
	for _, nal := range annexBUnits(stream) {
		pending = append(pending, 0, 0, 0, 1)
		pending = append(pending, nal...)
		if t := nal[0] & 0x1f; t == 1 || t == 5 {
			frames = append(frames, clipFrame{pending, videoFrame, isKeyFrame("H264", pending)})
			pending = []byte{}
		}
	}
	return frames
}

// annexBUnits is the NAL units of an Annex-B stream, without their start codes.
func annexBUnits(stream []byte) [][]byte {
	starts := []int{}
	for i := 0; i+3 <= len(stream); {
		if stream[i] == 0 && stream[i+1] == 0 && stream[i+2] == 1 {
			starts = append(starts, i+3)
			i += 3
		} else {
			i++
		}
	}
	units := [][]byte{}
	for n, start := range starts {
		end := len(stream)
		if n+1 < len(starts) {
			end = starts[n+1] - 3
		}
		unit := stream[start:end]
		for len(unit) > 0 && unit[len(unit)-1] == 0 {
			unit = unit[:len(unit)-1] // a four-byte start code leaves a zero behind
		}
		if len(unit) > 0 {
			units = append(units, unit)
		}
	}
	return units
}

// isKeyFrame: whether a frame (the codec's bitstream) is a key frame.
func isKeyFrame(codec string, frame []byte) bool {
	if len(frame) == 0 {
		return false
	}
	first := frame[0]
	switch strings.ToUpper(codec) {
	case "VP8": // RFC 6386 §9.1: the frame tag's lowest bit is 0 on a key frame
		return first&0x01 == 0
	case "VP9": // frame_marker(2) profile(2) [reserved(1) if profile 3] show_existing_frame(1) frame_type(1)
		profile := ((first >> 5) & 1) | (((first >> 4) & 1) << 1)
		shift := uint(3)
		if profile == 3 {
			shift = 2
		}
		return (first>>shift)&1 == 0 && (first>>(shift-1))&1 == 0
	case "H264": // an IDR slice
		for _, nal := range annexBUnits(frame) {
			if nal[0]&0x1f == 5 {
				return true
			}
		}
	case "AV1": // a sequence header OBU comes with every key frame
		return av1HasSequenceHeader(frame)
	}
	return false
}

// av1HasSequenceHeader: an AV1 temporal unit (low-overhead format) holds a sequence header OBU.
func av1HasSequenceHeader(data []byte) bool {
	for len(data) > 0 {
		header := data[0]
		if (header>>3)&0x0f == 1 {
			return true
		}
		at := 1
		if header&0x04 != 0 {
			at++
		}
		if header&0x02 == 0 {
			return false
		}
		size := 0
		for shift := 0; shift < 8; shift++ {
			if at >= len(data) {
				return false
			}
			b := data[at]
			at++
			size |= int(b&0x7f) << (7 * shift)
			if b&0x80 == 0 {
				break
			}
		}
		if at+size > len(data) {
			return false
		}
		data = data[at+size:]
	}
	return false
}

// stepAddTrack: the acting side adds a transceiver of the step's kind and direction, sending a
// clip unless it is recvonly (or disabled). The codecs were narrowed in the media engine.
func (p *Peer) stepAddTrack(c *stepContext) error {
	if !c.acted {
		return nil
	}
	s := c.step
	kind := s.Kind
	if kind == "" {
		kind = "video"
	}
	direction := s.Direction
	if direction == "" {
		direction = "sendrecv"
	}
	codecType := webrtc.RTPCodecTypeVideo
	if kind == "audio" {
		codecType = webrtc.RTPCodecTypeAudio
	}
	if direction == "recvonly" {
		// pion's setRemoteDescription gives an offer's m-section of the same kind to this
		// transceiver, so an answerer's recvonly takes the offer's track too.
		if _, err := p.pc.AddTransceiverFromKind(codecType, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return stepFailure{fmt.Sprintf("addTransceiver(%s, recvonly) failed: %v", kind, err)}
		}
		p.media.startSampling(p)
		p.note("add_track: %s recvonly", kind)
		return nil
	}
	chosen, err := chooseClip(kind, s.Codecs)
	if err != nil {
		return stepFailure{err.Error()}
	}
	frames, err := readClip(chosen)
	if err != nil {
		return stepFailure{fmt.Sprintf("the %s clip: %v", chosen.name, err)}
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{
		MimeType: chosen.mime, ClockRate: clockRate(kind), Channels: channelsOf(kind), SDPFmtpLine: chosen.fmtp,
	}, fmt.Sprintf("%s-%s", p.plan.ID, kind), "rtc-interop-"+p.plan.ID)
	if err != nil {
		return stepFailure{fmt.Sprintf("cannot make the %s track: %v", kind, err)}
	}
	var sender *webrtc.RTPSender
	if direction == "sendonly" {
		transceiver, err := p.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return stepFailure{fmt.Sprintf("addTransceiver(%s, sendonly) failed: %v", kind, err)}
		}
		sender = transceiver.Sender()
	} else {
		// addTrack, not addTransceiver: a transceiver addTrack made (or one a remote offer made)
		// is the one a remote offer's m-section of the same kind takes.
		if sender, err = p.pc.AddTrack(track); err != nil {
			return stepFailure{fmt.Sprintf("addTrack(%s) failed: %v", kind, err)}
		}
	}
	ssrc := uint32(0)
	if encodings := sender.GetParameters().Encodings; len(encodings) > 0 {
		ssrc = uint32(encodings[0].SSRC)
	}
	mime, fmtp := chosen.mime, chosen.fmtp
	entry := &MediaTrackLog{Kind: kind, Direction: "outbound", Codec: &mime, FrameChecks: []FrameCheck{}, Samples: []MediaSample{}}
	if fmtp != "" {
		entry.Fmtp = &fmtp
	}
	p.update(func(o *Observations) { o.Tracks = append(o.Tracks, entry) })
	p.media.mu.Lock()
	p.media.outbound[ssrc] = entry
	p.media.mu.Unlock()
	// RTCP for this sender is read so the interceptors (NACK responder, reports) see it.
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	if s.flag(s.Enabled, true) {
		go p.sendClip(track, sender, entry, kind, frames)
	} else {
		p.note("the %s track is disabled: nothing is sent on it", kind)
	}
	p.media.startSampling(p)
	p.note("add_track: %s %s sending the %s clip (ssrc %d)", kind, direction, chosen.name, ssrc)
	return nil
}

// sendClip sends the frames at their own pace, in a loop, from when the connection is up until
// it closes.
func (p *Peer) sendClip(track *webrtc.TrackLocalStaticSample, sender *webrtc.RTPSender, entry *MediaTrackLog, kind string, frames []clipFrame) {
	err := p.waitUntil(time.Now().Add(sendWaitLimit), func() bool {
		return p.pc.ConnectionState() == webrtc.PeerConnectionStateConnected || p.media.isStopped()
	}, func() string { return "" })
	if err != nil {
		p.errorf(kind, "nothing sent: the connection never became connected (last saw %s)", p.pc.ConnectionState())
		return
	}
	next := time.Now()
	for i := 0; ; i = (i + 1) % len(frames) {
		frame := frames[i]
		if wait := time.Until(next); wait > 0 {
			select {
			case <-time.After(wait):
			case <-p.media.stopped:
				return
			}
		}
		if p.media.isStopped() {
			return
		}
		next = next.Add(frame.duration)
		if err := track.WriteSample(media.Sample{Data: frame.data, Duration: frame.duration}); err != nil {
			if !p.media.isStopped() && !errors.Is(err, io.ErrClosedPipe) {
				p.errorf(kind, "writing a frame failed: %v", err)
			}
			return
		}
		p.update(func(o *Observations) {
			if entry.StartedAtMs == nil {
				at := nowMs()
				entry.StartedAtMs = &at
			}
			entry.Bytes += uint64(len(frame.data))
			if kind == "video" {
				entry.Frames++
				if frame.key {
					entry.KeyFrames++
				}
			}
		})
	}
}

// ---- Receiving ----

// av1Depacketizer makes pion's AV1Packet (which has no partition head/tail methods in
// pion/rtp 1.7.13) usable by the sample builder: a packet whose first OBU element continues
// none (Z = 0) may start a frame; the marker bit ends it.
type av1Depacketizer struct{ codecs.AV1Packet }

func (d *av1Depacketizer) IsPartitionHead(payload []byte) bool {
	return len(payload) > 0 && payload[0]&0x80 == 0
}

func (d *av1Depacketizer) IsPartitionTail(marker bool, _ []byte) bool { return marker }

// av1StartsKeyFrame: an AV1 RTP payload starts a coded video sequence (N set) or its first OBU
// element starts with a sequence header OBU (which comes with every key frame; pion's payloader
// does not set N).
func av1StartsKeyFrame(payload []byte) bool {
	if len(payload) < 2 {
		return false
	}
	header := payload[0]
	if header&0x08 != 0 {
		return true
	}
	if header&0x80 != 0 {
		return false // Z: the first element continues an OBU of the previous packet
	}
	at := 1
	if (header>>4)&0x03 != 1 { // W != 1: the first element has a length field (LEB128)
		for at < len(payload) && payload[at]&0x80 != 0 {
			at++
		}
		at++
	}
	// The OBUs at the start of that element (pion's payloader puts a whole temporal unit in one
	// element: temporal delimiter, sequence header, frame).
	return at < len(payload) && av1HasSequenceHeader(payload[at:])
}

func depacketizerFor(name string) rtp.Depacketizer {
	switch strings.ToUpper(name) {
	case "VP8":
		return &codecs.VP8Packet{}
	case "VP9":
		return &codecs.VP9Packet{}
	case "H264":
		return &codecs.H264Packet{}
	case "AV1":
		return &av1Depacketizer{}
	}
	return nil
}

// onTrack counts what arrives on a received track: packets, bytes, and frames reassembled.
func (p *Peer) onTrack(track *webrtc.TrackRemote, receiver *webrtc.RTPReceiver) {
	kind := track.Kind().String()
	codec := track.Codec()
	mime, fmtp := codec.MimeType, codec.SDPFmtpLine
	at := nowMs()
	entry := &MediaTrackLog{Kind: kind, Direction: "inbound", Codec: &mime, StartedAtMs: &at, FrameChecks: []FrameCheck{}, Samples: []MediaSample{}}
	if fmtp != "" {
		entry.Fmtp = &fmtp
	}
	for _, t := range p.pc.GetTransceivers() {
		if t.Receiver() == receiver && t.Mid() != "" {
			mid := t.Mid()
			entry.Mid = &mid
		}
	}
	p.update(func(o *Observations) { o.Tracks = append(o.Tracks, entry) })
	p.media.mu.Lock()
	p.media.inbound[uint32(track.SSRC())] = entry
	p.media.mu.Unlock()
	p.media.startSampling(p)
	p.note("track: %s %s %s (ssrc %d)", kind, mime, fmtp, track.SSRC())

	name := mime[strings.LastIndex(mime, "/")+1:]
	var builder *samplebuilder.SampleBuilder
	if kind == "video" {
		if d := depacketizerFor(name); d != nil {
			builder = samplebuilder.New(256, d, codec.ClockRate)
		}
		// A key frame now, in case the first went by before the track was bound.
		_ = p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(track.SSRC())}})
	}
	seen := newRecentSequenceNumbers()
	av1KeyTimestamps := map[uint32]bool{}
	for {
		packet, _, err := track.ReadRTP()
		if err != nil {
			return // the track ended (the connection closed)
		}
		if !seen.firstTime(packet.SequenceNumber) {
			p.update(func(o *Observations) {
				if entry.PacketsDuplicated == nil {
					entry.PacketsDuplicated = new(uint64)
				}
				*entry.PacketsDuplicated++
			})
			continue
		}
		if strings.EqualFold(name, "AV1") && av1StartsKeyFrame(packet.Payload) {
			av1KeyTimestamps[packet.Timestamp] = true
		}
		length := uint64(len(packet.Payload))
		var newFrames, newKeys uint64
		if builder != nil {
			builder.Push(packet)
			for sample := builder.Pop(); sample != nil; sample = builder.Pop() {
				newFrames++
				if strings.EqualFold(name, "AV1") {
					if av1KeyTimestamps[sample.PacketTimestamp] {
						newKeys++
						delete(av1KeyTimestamps, sample.PacketTimestamp)
					}
				} else if isKeyFrame(name, sample.Data) {
					newKeys++
				}
			}
		}
		now := nowMs()
		p.update(func(o *Observations) {
			entry.Packets++
			entry.Bytes += length
			if kind == "audio" && entry.FirstFrameAtMs == nil {
				entry.FirstFrameAtMs = &now
			}
			if newFrames > 0 {
				entry.Frames += newFrames
				entry.KeyFrames += newKeys
				if entry.FirstFrameAtMs == nil {
					entry.FirstFrameAtMs = &now
				}
			}
		})
	}
}

// recentSequenceNumbers recognises a packet delivered again (a retransmission of one already
// received) within the last 1024 sequence numbers.
type recentSequenceNumbers struct {
	seen  map[uint16]bool
	order []uint16
}

func newRecentSequenceNumbers() *recentSequenceNumbers {
	return &recentSequenceNumbers{seen: map[uint16]bool{}}
}

func (r *recentSequenceNumbers) firstTime(n uint16) bool {
	if r.seen[n] {
		return false
	}
	r.seen[n] = true
	r.order = append(r.order, n)
	if len(r.order) > 1024 {
		delete(r.seen, r.order[0])
		r.order = r.order[1:]
	}
	return true
}

// ---- Sampling ----

func (m *mediaState) isStopped() bool {
	select {
	case <-m.stopped:
		return true
	default:
		return false
	}
}

func (m *mediaState) stop() { m.stopOnce.Do(func() { close(m.stopped) }) }

// startSampling starts, once, the sampler: every 500 ms each track's counters are recorded, and
// every second each received video track's frame count is compared with a second before.
func (m *mediaState) startSampling(p *Peer) {
	m.mu.Lock()
	if m.sampling {
		m.mu.Unlock()
		return
	}
	m.sampling = true
	m.mu.Unlock()
	go func() {
		ticker := time.NewTicker(mediaSampleInterval)
		defer ticker.Stop()
		tick := 0
		framesAtLastLook := map[*MediaTrackLog]uint64{}
		for {
			select {
			case <-m.stopped:
				return
			case <-ticker.C:
			}
			tick++
			look := tick%2 == 0
			p.update(func(o *Observations) {
				now := nowMs()
				for _, t := range o.Tracks {
					t.Samples = append(t.Samples, MediaSample{AtMs: now, Packets: t.Packets, Bytes: t.Bytes, Frames: t.Frames})
					if look && t.isInbound("video") && t.Frames > 0 {
						if before, ok := framesAtLastLook[t]; ok {
							t.FrameChecks = append(t.FrameChecks, FrameCheck{AtMs: now, Changed: t.Frames > before, How: "frame count"})
						}
						framesAtLastLook[t] = t.Frames
					}
				}
			})
		}
	}()
}

// sample records the counters once more (the final ones).
func (m *mediaState) sample(p *Peer) {
	p.update(func(o *Observations) {
		now := nowMs()
		for _, t := range o.Tracks {
			t.Samples = append(t.Samples, MediaSample{AtMs: now, Packets: t.Packets, Bytes: t.Bytes, Frames: t.Frames})
		}
	})
}

// stepExpectMedia waits until what this side receives meets its [[expect.media]] entries.
func (p *Peer) stepExpectMedia(c *stepContext) error {
	if !c.acted {
		return nil
	}
	unmet := func() string {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, expect := range p.plan.Media {
			var received *MediaTrackLog
			for _, t := range p.obs.Tracks {
				if t.isInbound(expect.Kind) {
					received = t
					break
				}
			}
			if shortfall := mediaShortfall(expect, received, c.within); shortfall != "" {
				return shortfall
			}
		}
		return ""
	}
	return c.wait(func() bool { return unmet() == "" }, func() string {
		if why := unmet(); why != "" {
			return why
		}
		return "the media met its expectations only as the time ran out " + c.within
	})
}

// mediaShortfall: what `expect` still lacks on the received track (""; nothing), in the words of
// observe::media::media_shortfall on the Rust side.
func mediaShortfall(expect MediaExpectation, t *MediaTrackLog, within string) string {
	kind := expect.Kind
	if t == nil {
		return fmt.Sprintf("%s: no %s track arrived %s", kind, kind, within)
	}
	codec := "unknown"
	if t.Codec != nil {
		codec = (*t.Codec)[strings.LastIndex(*t.Codec, "/")+1:]
		if t.Fmtp != nil && *t.Fmtp != "" {
			codec += " " + *t.Fmtp
		}
	}
	minPackets, minFrames, moving := uint64(25), uint64(15), true
	if expect.MinPackets != nil {
		minPackets = *expect.MinPackets
	}
	if expect.MinFrames != nil {
		minFrames = *expect.MinFrames
	}
	if expect.Moving != nil {
		moving = *expect.Moving
	}
	if t.Packets < minPackets {
		return fmt.Sprintf("%s: %d of %d packets received %s (codec %s)", kind, t.Packets, minPackets, within, codec)
	}
	if kind != "video" {
		return ""
	}
	if t.Frames < minFrames {
		return fmt.Sprintf("%s: %d of %d frames decoded %s (%d packets received, codec %s)", kind, t.Frames, minFrames, within, t.Packets, codec)
	}
	if !moving {
		return ""
	}
	if len(t.FrameChecks) == 0 {
		return fmt.Sprintf("%s: the picture was never looked at %s (%d frames decoded)", kind, within, t.Frames)
	}
	// The latest looksJudged looks judge it (LOOKS_JUDGED in the harness's observe::media).
	looks := t.FrameChecks
	if len(looks) > looksJudged {
		looks = looks[len(looks)-looksJudged:]
	}
	for _, look := range looks {
		if look.Changed {
			return ""
		}
	}
	count := fmt.Sprintf("%d looks", len(looks))
	if len(looks) == 1 {
		count = "1 look"
	}
	return fmt.Sprintf("%s: the picture is frozen: it did not change at the last %s, a second apart (frame count; %d frames decoded, codec %s)", kind, count, t.Frames, codec)
}

// ---- Counting RTP and RTCP ----

// mediaCounterFactory makes the interceptor that counts packets sent per track and NACKs and
// PLIs each way (pion 3.1.56's GetStats() has no RTP stream stats).
type mediaCounterFactory struct{ state *mediaState }

func (f *mediaCounterFactory) NewInterceptor(_ string) (interceptor.Interceptor, error) {
	return &mediaCounter{state: f.state}, nil
}

type mediaCounter struct {
	interceptor.NoOp
	state *mediaState
}

func (c *mediaCounter) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(header *rtp.Header, payload []byte, attributes interceptor.Attributes) (int, error) {
		n, err := writer.Write(header, payload, attributes)
		if err == nil {
			c.state.mu.Lock()
			t := c.state.outbound[header.SSRC]
			c.state.mu.Unlock()
			if t != nil {
				c.state.peer.update(func(o *Observations) { t.Packets++ })
			}
		}
		return n, err
	})
}

// countFeedback adds the NACKs and PLIs in `packets` to the tracks of `logs` (by media SSRC).
func (c *mediaCounter) countFeedback(packets []rtcp.Packet, logs map[uint32]*MediaTrackLog) {
	bump := func(ssrc uint32, field func(t *MediaTrackLog) **uint64) {
		c.state.mu.Lock()
		t := logs[ssrc]
		c.state.mu.Unlock()
		if t == nil {
			return
		}
		c.state.peer.update(func(o *Observations) {
			count := field(t)
			if *count == nil {
				*count = new(uint64)
			}
			**count++
		})
	}
	for _, packet := range packets {
		switch pkt := packet.(type) {
		case *rtcp.TransportLayerNack:
			bump(pkt.MediaSSRC, func(t *MediaTrackLog) **uint64 { return &t.NackCount })
		case *rtcp.PictureLossIndication:
			bump(pkt.MediaSSRC, func(t *MediaTrackLog) **uint64 { return &t.PliCount })
		}
	}
}

func (c *mediaCounter) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, attributes interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attributes, err := reader.Read(b, attributes)
		if err == nil {
			if packets, perr := rtcp.Unmarshal(b[:n]); perr == nil {
				c.countFeedback(packets, c.state.outbound) // feedback about what this side sends
			}
		}
		return n, attributes, err
	})
}

func (c *mediaCounter) BindRTCPWriter(writer interceptor.RTCPWriter) interceptor.RTCPWriter {
	return interceptor.RTCPWriterFunc(func(packets []rtcp.Packet, attributes interceptor.Attributes) (int, error) {
		c.countFeedback(packets, c.state.inbound) // feedback about what this side receives
		return writer.Write(packets, attributes)
	})
}
