//! Decoding allocates nothing: a counting global allocator watches strict
//! and lenient decodes of the whole corpus, including walking every list.
//! (This file holds a single test so that no other test thread allocates
//! while the counter is armed.)

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mqttkit_codec::{Packet, StreamDecoder};

struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; the only
// addition is an atomic counter, which does not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Touches every borrowed field and list item so lazy lists are walked.
fn walk(p: &Packet<'_>) -> usize {
    let mut n = 0;
    match p {
        Packet::Connect(c) => {
            let c = c.get();
            n += c.client_id.len() + c.properties.user_properties.iter().count();
            if let Some(w) = &c.will {
                n += w.topic.len() + w.payload.len() + w.properties.user_properties.iter().count();
            }
        }
        Packet::ConnAck(c) => n += c.properties.get().user_properties.iter().count(),
        Packet::Publish(p) => {
            n += p.topic.len() + p.payload.len();
            let props = p.properties.get();
            n += props
                .user_properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
            n += props.subscription_identifiers.iter().count();
        }
        Packet::PubAck(a) | Packet::PubRec(a) => n += a.properties.user_properties.iter().count(),
        Packet::PubRel(a) | Packet::PubComp(a) => n += a.properties.user_properties.iter().count(),
        Packet::Subscribe(s) => {
            n += s
                .subscriptions
                .iter()
                .map(|s| s.filter.len())
                .sum::<usize>()
        }
        Packet::SubAck(s) => n += s.reason_codes.iter().count(),
        Packet::Unsubscribe(u) => n += u.filters.iter().map(str::len).sum::<usize>(),
        Packet::UnsubAck(u) => n += u.reason_codes.iter().count(),
        Packet::Disconnect(d) => n += d.properties.user_properties.iter().count(),
        Packet::Auth(a) => n += a.properties.user_properties.iter().count(),
        Packet::PingReq | Packet::PingResp => n += 1,
    }
    n
}

#[test]
fn decoding_the_corpus_allocates_nothing() {
    let cases = common::load();
    // A stream decoder with its buffer already filled: framing and decoding
    // from it must not allocate either.
    let valid: Vec<&common::Case> = cases.iter().filter(|c| c.expect == "ok").collect();
    let mut streams: Vec<StreamDecoder> = valid
        .iter()
        .map(|c| {
            let mut s = StreamDecoder::with_version(c.version);
            s.feed(&c.bytes);
            s
        })
        .collect();

    ALLOCATIONS.store(0, Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    let mut decoded = 0usize;
    let mut touched = 0usize;
    for c in &cases {
        let d = c.decoder();
        if let Ok((p, _)) = d.decode(&c.bytes) {
            decoded += 1;
            touched += walk(&p);
        }
        if let Ok((p, _, v)) = d.decode_lenient(&c.bytes) {
            touched += walk(&p) + v.total();
        }
    }
    for s in &mut streams {
        while let Ok(Some(p)) = s.next_packet() {
            touched += walk(&p);
        }
    }
    ARMED.store(false, Ordering::SeqCst);
    let allocations = ALLOCATIONS.load(Ordering::SeqCst);

    assert!(decoded >= 100, "only {decoded} corpus cases decoded");
    assert!(touched > 0);
    assert_eq!(allocations, 0, "decoding allocated {allocations} times");
}
