//! The reference broker: the model's broker core behind the I/O layer.

use mqttkit_model::persist::{RestoreReport, StoreOp, StoredState};
use mqttkit_model::{Authorizer, Broker};
use tracing::debug;

use crate::core::{ConnId, Core, Millis, Output};

impl<A: Authorizer + 'static> Core for Broker<A> {
    fn connection_opened(&mut self, conn: ConnId, now: Millis) {
        Broker::connection_opened(self, conn, now)
    }

    fn bytes_received(&mut self, conn: ConnId, bytes: &[u8], now: Millis) {
        Broker::bytes_received(self, conn, bytes, now)
    }

    fn connection_lost(&mut self, conn: ConnId, now: Millis) {
        Broker::connection_lost(self, conn, now)
    }

    fn handle_timeout(&mut self, now: Millis) {
        Broker::handle_timeout(self, now)
    }

    fn poll_output(&mut self) -> Option<Output> {
        loop {
            match Broker::poll_output(self)? {
                mqttkit_model::Output::Send { conn, bytes } => {
                    return Some(Output::Send { conn, bytes })
                }
                mqttkit_model::Output::Close { conn } => return Some(Output::Close { conn }),
                mqttkit_model::Output::Dropped {
                    client_id,
                    topic,
                    reason,
                } => {
                    debug!(%client_id, %topic, ?reason, "message dropped");
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Millis> {
        Broker::next_deadline(self)
    }

    fn restore(
        &mut self,
        state: &StoredState,
        wall_base: u64,
        now: Millis,
    ) -> Result<RestoreReport, String> {
        self.load(state, wall_base, now).map_err(|e| e.to_string())
    }

    fn take_store_ops(&mut self) -> Vec<StoreOp> {
        Broker::take_store_ops(self)
    }
}
