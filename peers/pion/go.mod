// Marker: install.sh builds this folder offline in GOPATH mode (GO111MODULE=off) against Debian's
// golang-github-pion-webrtc.v3-dev; Go's minimal module compatibility resolves the
// `github.com/pion/webrtc/v3` import only for a package that has a go.mod. No module download.
module rtcinterop/pionpeer

go 1.19
