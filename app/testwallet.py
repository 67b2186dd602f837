"""A scripted EIP-1193 wallet for driving the app in Chromium (the browser tests and `make bench`).

The JavaScript half is a provider object injected before the page's scripts run (`window.ethereum` and an
EIP-6963 announcement). Each `request` goes to the Python half through a Playwright binding, which forwards
it to a real node where the dev accounts are unlocked: the node itself signs `eth_signTypedData_v4` and
`eth_sendTransaction`. The Python half can also play the user: claim another chain, reject a request with
EIP-1193 error 4001; it records every call the page made (to count the page's JSON-RPC calls).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INJECTED_WALLET = """
(() => {
  const listeners = {};
  const provider = {
    isWellheadTestWallet: true,
    async request({ method, params }) {
      const reply = await window.__wellheadWallet({ method, params: params || [] });
      if (reply.error) {
        const err = new Error(reply.error.message);
        err.code = reply.error.code;
        if (reply.error.data !== undefined) err.data = reply.error.data;
        throw err;
      }
      if (method === 'wallet_switchEthereumChain') (listeners.chainChanged || []).forEach((f) => f(params[0].chainId));
      return reply.result;
    },
    on(event, fn) { (listeners[event] ||= []).push(fn); },
    removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); },
  };
  window.ethereum = provider;
  const info = { uuid: '6f3c7f7e-0d5e-4b1a-9a3e-7d2b9c1e5a40', name: 'Test Wallet', rdns: 'org.wellhead.testwallet',
    icon: 'data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22/%3E' };
  const announce = () => window.dispatchEvent(new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }));
  window.addEventListener('eip6963:requestProvider', announce);
  announce();
})();
"""


@dataclass
class TestWallet:
    """The Python half of the injected wallet: one account, a chain it claims to be on, a user who may say no."""

    rpc: Any  # a web3 provider (make_request)
    account: str
    chain_id: int
    reject: set[str] = field(default_factory=set)  # methods the "user" rejects with 4001
    calls: list[str] = field(default_factory=list)

    def handle(self, source: Any, payload: dict[str, Any]) -> dict[str, Any]:
        method, params = payload["method"], payload.get("params") or []
        self.calls.append(method)
        if method in self.reject:
            return {"error": {"code": 4001, "message": "User rejected the request."}}
        if method in ("eth_accounts", "eth_requestAccounts"):
            return {"result": [self.account]}
        if method == "eth_chainId":
            return {"result": hex(self.chain_id)}
        if method == "wallet_switchEthereumChain":
            self.chain_id = int(params[0]["chainId"], 16)
            return {"result": None}
        if method in ("eth_sendTransaction", "eth_signTypedData_v4") and self.chain_id != self._real_chain():
            return {"error": {"code": 4100, "message": "wallet is on another chain"}}
        reply = self.rpc.make_request(method, params)
        if "error" in reply:
            return {"error": dict(reply["error"])}
        return {"result": reply["result"]}

    def _real_chain(self) -> int:
        return int(self.rpc.make_request("eth_chainId", [])["result"], 16)

    def sent(self) -> list[str]:
        """The calls that would have needed the user's confirmation."""
        return [c for c in self.calls if c in ("eth_sendTransaction", "eth_signTypedData_v4")]

    def install(self, context: Any) -> None:
        """Injects the wallet into every page of a Playwright browser context."""
        context.expose_binding("__wellheadWallet", self.handle)
        context.add_init_script(INJECTED_WALLET)

