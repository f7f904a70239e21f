"""What both Python adapters record, in the shape of the harness's observations (the Rust side's
`observe` module reads it), and the facts of a plan they read alike."""

import re

from media_rules import now_ms

# Steps that are an offer/answer round of their own.
ROUND_STEPS = ("negotiate", "restart_ice")


def is_round(step):
    return step["do"] in ROUND_STEPS


def rounds_through(plan, index):
    """How many offer/answer rounds the plan has completed once step `index` is done."""
    return sum(1 for s in plan["steps"][: index + 1] if is_round(s))


def round_to_answer_after(plan, negotiations, current_step):
    """The step an offer arriving now is answered after, or None to answer at once (peer.js
    readyForOffer): while this side is still in the add_track steps before the round the offer
    completes, answered at once, the answer would leave their tracks out."""
    rounds = [i for i, s in enumerate(plan["steps"]) if is_round(s)]
    if negotiations >= len(rounds):
        return None
    target = rounds[negotiations]
    if current_step >= target:
        return None
    before = plan["steps"][current_step:target]
    if not any(s["do"] == "add_track" for s in before):
        return None
    if not all(s["do"] in ("add_track", "open_channel") for s in before):
        return None
    return target


def new_observations():
    """A side's observations before anything happened."""
    return {
        "ice_connection_states": [],
        "connection_states": [],
        "ice_gathering_states": [],
        "signaling_states": [],
        "local_candidates": [],
        "remote_candidates": [],
        "remote_candidates_complete": False,
        "selected_pair": None,
        "channels": [],
        "steps": [],
        "tracks": [],
        "negotiations": 0,
        "bye_received_at_ms": None,
        "remote_id": None,
        "local_descriptions": [],
        "offer_created_at_ms": None,
        "errors": [],
        "finished": False,
    }


def new_channel_log(label, channel_id, echoes):
    """One data channel's log (`channels` entry) before it opened."""
    return {
        "label": label,
        "id": channel_id,
        "echoes": echoes,
        "opened_at_ms": None,
        "closed_at_ms": None,
        "echo": None,
        "messages_sent": 0,
        "bytes_sent": 0,
        "messages_received": 0,
        "bytes_received": 0,
        "messages_echoed": 0,
        "echoes_matched": 0,
        "send_errors": [],
    }


def new_step_entry(index, step, role, obs):
    """The `steps` entry of step `index` as it starts; `acted`: this side plays it."""
    by = step.get("by", "offerer")
    return {
        "index": index,
        "do": step["do"],
        "by": by,
        "acted": by in (role, "both"),
        "started_at_ms": now_ms(),
        "ended_at_ms": None,
        "error": None,
        "skipped": None,
        "local_candidates_before": len(obs["local_candidates"]),
        "remote_candidates_before": len(obs["remote_candidates"]),
    }


def ice_ufrag(sdp):
    found = re.search(r"^a=ice-ufrag:(\S+)", sdp or "", re.M)
    return found.group(1) if found else None


def candidate_key(text):
    """(component, protocol, address, port): what makes two spellings of one candidate the same
    (Observations::add_remote_candidate)."""
    fields = re.sub(r"^(a=)?candidate:", "", text.strip()).split()
    return (fields[1], fields[2].lower(), fields[4], fields[5]) if len(fields) >= 8 else None


def shown_data(data):
    """A received message as the echo log shows it."""
    return data if isinstance(data, str) else f"<binary {len(data)} bytes>"
