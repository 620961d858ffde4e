//! Reason codes, one type per packet (MQTT 5.0 §2.4 and each packet's
//! section). MQTT 3.x CONNACK return codes and SUBACK return codes map onto
//! the 5.0 values with the same meaning (see [`ConnectReasonCode::from_v3`]).

use core::fmt;

macro_rules! reason_codes {
    ($( $(#[$m:meta])* $name:ident { $( $(#[$vm:meta])* $variant:ident = $val:literal, )* } )*) => {$(
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        #[allow(missing_docs)]
        pub enum $name { $( $(#[$vm])* $variant = $val, )* }

        impl $name {
            /// Every defined code, in numeric order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The code for a byte, or `None` when it is not defined for this packet.
            #[inline]
            pub const fn from_u8(b: u8) -> Option<Self> {
                match b { $( $val => Some($name::$variant), )* _ => None }
            }

            /// The byte on the wire.
            #[inline]
            pub const fn as_u8(self) -> u8 { self as u8 }

            /// The code's name as written in the specification, without spaces.
            pub const fn name(self) -> &'static str {
                match self { $( $name::$variant => stringify!($variant), )* }
            }

            /// True for codes of 0x80 and above, which report a failure.
            pub const fn is_error(self) -> bool { (self as u8) >= 0x80 }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "0x{:02X} {}", *self as u8, self.name())
            }
        }

        impl TryFrom<u8> for $name {
            type Error = u8;
            fn try_from(b: u8) -> Result<Self, u8> { Self::from_u8(b).ok_or(b) }
        }

        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_u8(*self as u8)
            }
        }

        #[cfg(feature = "arbitrary")]
        impl<'x> arbitrary::Arbitrary<'x> for $name {
            fn arbitrary(u: &mut arbitrary::Unstructured<'x>) -> arbitrary::Result<Self> {
                Ok(*u.choose(Self::ALL)?)
            }
        }
    )*};
}

reason_codes! {
    /// CONNACK reason codes (5.0 §3.2.2.2); 3.x return codes map onto these.
    ConnectReasonCode {
        Success = 0x00,
        UnspecifiedError = 0x80,
        MalformedPacket = 0x81,
        ProtocolError = 0x82,
        ImplementationSpecificError = 0x83,
        UnsupportedProtocolVersion = 0x84,
        ClientIdentifierNotValid = 0x85,
        BadUserNameOrPassword = 0x86,
        NotAuthorized = 0x87,
        ServerUnavailable = 0x88,
        ServerBusy = 0x89,
        Banned = 0x8A,
        BadAuthenticationMethod = 0x8C,
        TopicNameInvalid = 0x90,
        PacketTooLarge = 0x95,
        QuotaExceeded = 0x97,
        PayloadFormatInvalid = 0x99,
        RetainNotSupported = 0x9A,
        QoSNotSupported = 0x9B,
        UseAnotherServer = 0x9C,
        ServerMoved = 0x9D,
        ConnectionRateExceeded = 0x9F,
    }

    /// PUBACK and PUBREC reason codes (5.0 §3.4.2.1, §3.5.2.1).
    PubAckReasonCode {
        Success = 0x00,
        NoMatchingSubscribers = 0x10,
        UnspecifiedError = 0x80,
        ImplementationSpecificError = 0x83,
        NotAuthorized = 0x87,
        TopicNameInvalid = 0x90,
        PacketIdentifierInUse = 0x91,
        QuotaExceeded = 0x97,
        PayloadFormatInvalid = 0x99,
    }

    /// PUBREL and PUBCOMP reason codes (5.0 §3.6.2.1, §3.7.2.1).
    PubRelReasonCode {
        Success = 0x00,
        PacketIdentifierNotFound = 0x92,
    }

    /// SUBACK reason codes (5.0 §3.9.3); 3.x return codes 0, 1, 2 and 0x80
    /// are the first four.
    SubscribeReasonCode {
        GrantedQoS0 = 0x00,
        GrantedQoS1 = 0x01,
        GrantedQoS2 = 0x02,
        UnspecifiedError = 0x80,
        ImplementationSpecificError = 0x83,
        NotAuthorized = 0x87,
        TopicFilterInvalid = 0x8F,
        PacketIdentifierInUse = 0x91,
        QuotaExceeded = 0x97,
        SharedSubscriptionsNotSupported = 0x9E,
        SubscriptionIdentifiersNotSupported = 0xA1,
        WildcardSubscriptionsNotSupported = 0xA2,
    }

    /// UNSUBACK reason codes (5.0 §3.11.3).
    UnsubscribeReasonCode {
        Success = 0x00,
        NoSubscriptionExisted = 0x11,
        UnspecifiedError = 0x80,
        ImplementationSpecificError = 0x83,
        NotAuthorized = 0x87,
        TopicFilterInvalid = 0x8F,
        PacketIdentifierInUse = 0x91,
    }

    /// DISCONNECT reason codes (5.0 §3.14.2.1).
    DisconnectReasonCode {
        NormalDisconnection = 0x00,
        DisconnectWithWillMessage = 0x04,
        UnspecifiedError = 0x80,
        MalformedPacket = 0x81,
        ProtocolError = 0x82,
        ImplementationSpecificError = 0x83,
        NotAuthorized = 0x87,
        ServerBusy = 0x89,
        ServerShuttingDown = 0x8B,
        KeepAliveTimeout = 0x8D,
        SessionTakenOver = 0x8E,
        TopicFilterInvalid = 0x8F,
        TopicNameInvalid = 0x90,
        ReceiveMaximumExceeded = 0x93,
        TopicAliasInvalid = 0x94,
        PacketTooLarge = 0x95,
        MessageRateTooHigh = 0x96,
        QuotaExceeded = 0x97,
        AdministrativeAction = 0x98,
        PayloadFormatInvalid = 0x99,
        RetainNotSupported = 0x9A,
        QoSNotSupported = 0x9B,
        UseAnotherServer = 0x9C,
        ServerMoved = 0x9D,
        SharedSubscriptionsNotSupported = 0x9E,
        ConnectionRateExceeded = 0x9F,
        MaximumConnectTime = 0xA0,
        SubscriptionIdentifiersNotSupported = 0xA1,
        WildcardSubscriptionsNotSupported = 0xA2,
    }

    /// AUTH reason codes (5.0 §3.15.2.1).
    AuthReasonCode {
        Success = 0x00,
        ContinueAuthentication = 0x18,
        ReAuthenticate = 0x19,
    }
}

impl ConnectReasonCode {
    /// The 5.0 code with the meaning of a 3.x CONNACK return code (0-5).
    pub const fn from_v3(code: u8) -> Option<Self> {
        Some(match code {
            0 => ConnectReasonCode::Success,
            1 => ConnectReasonCode::UnsupportedProtocolVersion,
            2 => ConnectReasonCode::ClientIdentifierNotValid,
            3 => ConnectReasonCode::ServerUnavailable,
            4 => ConnectReasonCode::BadUserNameOrPassword,
            5 => ConnectReasonCode::NotAuthorized,
            _ => return None,
        })
    }

    /// The 3.x return code with this meaning, if 3.x has one.
    pub const fn to_v3(self) -> Option<u8> {
        Some(match self {
            ConnectReasonCode::Success => 0,
            ConnectReasonCode::UnsupportedProtocolVersion => 1,
            ConnectReasonCode::ClientIdentifierNotValid => 2,
            ConnectReasonCode::ServerUnavailable => 3,
            ConnectReasonCode::BadUserNameOrPassword => 4,
            ConnectReasonCode::NotAuthorized => 5,
            _ => return None,
        })
    }
}

impl SubscribeReasonCode {
    /// True for the codes MQTT 3.x SUBACK can carry (0, 1, 2, 0x80).
    pub const fn is_v3(self) -> bool {
        matches!(
            self,
            SubscribeReasonCode::GrantedQoS0
                | SubscribeReasonCode::GrantedQoS1
                | SubscribeReasonCode::GrantedQoS2
                | SubscribeReasonCode::UnspecifiedError
        )
    }
}

impl DisconnectReasonCode {
    /// Which side may send this code, per the 5.0 table (`None`: both).
    pub const fn sender(self) -> Option<crate::Role> {
        use DisconnectReasonCode::*;
        match self {
            DisconnectWithWillMessage => Some(crate::Role::Client),
            NotAuthorized
            | ServerBusy
            | ServerShuttingDown
            | KeepAliveTimeout
            | SessionTakenOver
            | TopicFilterInvalid
            | ReceiveMaximumExceeded
            | RetainNotSupported
            | QoSNotSupported
            | UseAnotherServer
            | ServerMoved
            | SharedSubscriptionsNotSupported
            | ConnectionRateExceeded
            | MaximumConnectTime
            | SubscriptionIdentifiersNotSupported
            | WildcardSubscriptionsNotSupported => Some(crate::Role::Server),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_code() {
        for &c in ConnectReasonCode::ALL {
            assert_eq!(ConnectReasonCode::from_u8(c.as_u8()), Some(c));
        }
        for b in 0..=255u8 {
            if let Some(c) = DisconnectReasonCode::from_u8(b) {
                assert_eq!(c.as_u8(), b);
            }
        }
        assert_eq!(ConnectReasonCode::from_u8(0x8B), None);
        for v3 in 0..6 {
            assert_eq!(
                ConnectReasonCode::from_v3(v3).and_then(|c| c.to_v3()),
                Some(v3)
            );
        }
        assert_eq!(ConnectReasonCode::from_v3(6), None);
        assert_eq!(DisconnectReasonCode::ALL.len(), 29);
        assert_eq!(SubscribeReasonCode::ALL.len(), 12);
    }
}
