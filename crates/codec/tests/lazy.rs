//! `Lazy` parts of a packet (CONNECT; PUBLISH and CONNACK properties): the
//! size they buy, and that reading them again gives what the first decode
//! saw, lenient decodes with violations included.

use mqttkit_codec::{
    ConnAck, ConnAckProperties, Connect, ConnectReasonCode, Decoder, Lazy, Packet, ProtocolVersion,
    Publish, PublishProperties, UserProperties,
};

const V5: ProtocolVersion = ProtocolVersion::V5;

/// Every decode writes a whole `Packet`; it stays small enough to move in
/// a few vector stores (it was 280 bytes before `Lazy`).
#[test]
fn packet_stays_small() {
    let size = core::mem::size_of::<Packet<'_>>();
    assert!(size <= 80, "Packet is {size} bytes");
    assert!(core::mem::size_of::<Publish<'_>>() <= 64);
}

/// A packet with a one-byte Remaining Length.
fn frame(byte0: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128);
    let mut out = vec![byte0, body.len() as u8];
    out.extend_from_slice(body);
    out
}

/// A 5.0 PUBLISH QoS 0 to "t" with the given property block and payload "x".
fn publish5(props: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 1, b't', props.len() as u8];
    body.extend_from_slice(props);
    body.push(b'x');
    frame(0x30, &body)
}

#[test]
fn decoded_publish_properties_read_back() {
    // Topic Alias 7, user property a=b, Subscription Identifier 300.
    let props = [0x23, 0, 7, 0x26, 0, 1, b'a', 0, 1, b'b', 0x0B, 0xAC, 0x02];
    let buf = publish5(&props);
    let (p, _) = Decoder::new(V5).decode(&buf).unwrap();
    let Packet::Publish(p) = p else {
        panic!("{p:?}")
    };
    assert!(!p.properties.is_empty());
    let got = p.properties.get();
    assert_eq!(got.topic_alias, Some(7));
    assert_eq!(got.user_properties.iter().collect::<Vec<_>>(), [("a", "b")]);
    assert_eq!(
        got.subscription_identifiers.iter().collect::<Vec<_>>(),
        [300]
    );
    // The same set built by hand compares equal to the decoded one.
    let users = [("a", "b")];
    let ids = [300];
    let built = PublishProperties {
        topic_alias: Some(7),
        user_properties: UserProperties::from_slice(&users),
        subscription_identifiers: mqttkit_codec::List::from_slice(&ids),
        ..Default::default()
    };
    assert_eq!(p.properties, Lazy::new(&built));
    // And encodes back to the same bytes.
    assert_eq!(Packet::Publish(p).to_vec(V5).unwrap(), buf);
}

#[test]
fn empty_and_built_sets() {
    let none: Lazy<'_, PublishProperties<'_>> = Lazy::none();
    assert!(none.is_empty());
    assert_eq!(none, Lazy::default());
    assert_eq!(none.get(), PublishProperties::default());
    let empty = PublishProperties::default();
    assert!(Lazy::new(&empty).is_empty());
    let set = PublishProperties {
        content_type: Some("text/plain"),
        ..Default::default()
    };
    assert!(!Lazy::new(&set).is_empty());
    assert_ne!(Lazy::new(&set), none);
    // Debug prints the set itself, as before the sets became lazy.
    assert_eq!(format!("{:?}", Lazy::new(&set)), format!("{set:?}"));
}

/// Lenient decoding keeps the first of two copies of a property and what
/// came before an unknown property; reading the block again agrees.
#[test]
fn lenient_sets_read_back_as_decoded() {
    // Topic Alias 1, Topic Alias 2 (duplicate), Message Expiry 9.
    let dup = [0x23, 0, 1, 0x23, 0, 2, 0x02, 0, 0, 0, 9];
    let buf = publish5(&dup);
    assert!(Decoder::new(V5).decode(&buf).is_err());
    let (p, _, violations) = Decoder::new(V5).decode_lenient(&buf).unwrap();
    assert_eq!(violations.len(), 1);
    let Packet::Publish(p) = p else {
        panic!("{p:?}")
    };
    let got = p.properties.get();
    assert_eq!(got.topic_alias, Some(1));
    assert_eq!(got.message_expiry_interval, Some(9));

    // Content Type "a", unknown id 0x7F, then bytes that are never read.
    let unknown = [0x03, 0, 1, b'a', 0x7F, 1, 2];
    let buf = publish5(&unknown);
    let (p, _, violations) = Decoder::new(V5).decode_lenient(&buf).unwrap();
    assert!(!violations.is_empty());
    let Packet::Publish(p) = p else {
        panic!("{p:?}")
    };
    let got = p.properties.get();
    assert_eq!(got.content_type, Some("a"));
    assert_eq!(got.topic_alias, None);
}

#[test]
fn connect_reads_back_with_its_own_version() {
    let mut c = Connect::new(V5, "dev-1");
    c.keep_alive = 17;
    c.username = Some("u");
    c.properties.session_expiry_interval = Some(60);
    // Encoded under 5.0, decoded by a decoder set to 3.1.1: a CONNECT
    // carries its own version, and reading it again uses that one.
    let bytes = Packet::Connect(Lazy::new(&c)).to_vec(V5).unwrap();
    let (p, n) = Decoder::new(ProtocolVersion::V3_1_1)
        .decode(&bytes)
        .unwrap();
    assert_eq!(n, bytes.len());
    assert_eq!(p.connect_version(), Some(V5));
    let Packet::Connect(got) = p else {
        panic!("{p:?}")
    };
    assert_eq!(got.get(), c);
    assert_eq!(p.to_vec(ProtocolVersion::V3_1_1).unwrap(), bytes);
}

#[test]
fn lenient_connect_reads_back_as_decoded() {
    // 3.1.1 CONNECT "id" with a stray byte after the Client Identifier
    // (no User Name flag): MQTT-3.1.2-18 in lenient mode.
    let body = [
        0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 30, 0, 2, b'i', b'd', 0xEE,
    ];
    let buf = frame(0x10, &body);
    let d = Decoder::new(ProtocolVersion::V3_1_1);
    let err = d.decode(&buf).unwrap_err();
    let (p, _, violations) = d.decode_lenient(&buf).unwrap();
    assert_eq!(violations.len(), 1);
    assert_eq!(
        violations.iter().next().unwrap().statement(),
        err.statement().unwrap()
    );
    let Packet::Connect(c) = p else {
        panic!("{p:?}")
    };
    let c = c.get();
    assert_eq!((c.client_id, c.keep_alive, c.username), ("id", 30, None));
}

#[test]
fn connack_properties() {
    let props = ConnAckProperties {
        receive_maximum: Some(10),
        assigned_client_identifier: Some("auto-1"),
        ..Default::default()
    };
    let mut ack = ConnAck::new(false, ConnectReasonCode::Success);
    ack.properties = Lazy::new(&props);
    let bytes = Packet::ConnAck(ack).to_vec(V5).unwrap();
    let (p, _) = Decoder::new(V5).decode(&bytes).unwrap();
    let Packet::ConnAck(a) = p else {
        panic!("{p:?}")
    };
    assert_eq!(a.properties.get(), props);
    assert_eq!(a, ack);
    // 3.x has no properties: refused, as before.
    assert!(Packet::ConnAck(ack)
        .to_vec(ProtocolVersion::V3_1_1)
        .is_err());
    let plain = ConnAck::new(true, ConnectReasonCode::Success);
    let bytes = Packet::ConnAck(plain)
        .to_vec(ProtocolVersion::V3_1_1)
        .unwrap();
    assert_eq!(bytes, [0x20, 2, 1, 0]);
}
