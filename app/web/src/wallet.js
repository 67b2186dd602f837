// The wallet: EIP-6963 discovery (window.ethereum as the fallback), accounts, the chain it is on, switching
// to the deployment's chain, and viem clients whose every request goes through the wallet's provider.
import { createPublicClient, createWalletClient, custom, numberToHex } from 'viem';

export class Wallet {
  constructor(config, onChange) {
    this.config = config;
    this.onChange = onChange;
    this.providers = [];
    this.provider = null;
    this.account = null;
    this.chainId = null;
    window.addEventListener('eip6963:announceProvider', (event) => {
      const detail = event.detail;
      if (!detail?.provider || this.providers.some((p) => p.info.uuid === detail.info.uuid)) return;
      this.providers.push(detail);
    });
    window.dispatchEvent(new Event('eip6963:requestProvider'));
  }

  /** The chosen provider: the last one picked, else the only announced one, else window.ethereum. */
  pick(rdns) {
    const chosen = rdns ? this.providers.find((p) => p.info.rdns === rdns) : null;
    const detail = chosen || this.providers[0];
    const provider = detail?.provider || window.ethereum || null;
    if (provider === this.provider) return provider;
    this.provider = provider;
    this.info = detail?.info || (provider ? { name: 'Browser wallet', rdns: '' } : null);
    if (provider) {
      if (detail) localStorage.setItem('wellhead.wallet', detail.info.rdns);
      provider.on?.('accountsChanged', (accounts) => { this.account = accounts[0] || null; this.onChange(); });
      provider.on?.('chainChanged', (id) => { this.chainId = Number(id); this.onChange(); });
      const transport = custom(provider);
      this.public = createPublicClient({ transport });
      this.wallet = createWalletClient({ transport });
    }
    return provider;
  }

  /** Accounts already authorised (no prompt) and the chain: 2 JSON-RPC calls. */
  async restore() {
    if (!this.pick(localStorage.getItem('wellhead.wallet'))) return;
    const [chainId, accounts] = await Promise.all([
      this.provider.request({ method: 'eth_chainId' }),
      this.provider.request({ method: 'eth_accounts' }),
    ]);
    this.chainId = Number(chainId);
    this.account = accounts[0] || null;
  }

  /** Asks the wallet to connect (a prompt). */
  async connect(rdns) {
    if (!this.pick(rdns)) throw new Error('No wallet found: install MetaMask, Rabby or Frame, or open this page in a wallet browser.');
    const accounts = await this.provider.request({ method: 'eth_requestAccounts' });
    this.account = accounts[0] || null;
    this.chainId = Number(await this.provider.request({ method: 'eth_chainId' }));
  }

  get onRightChain() {
    return this.chainId === this.config.chainId;
  }

  /** wallet_switchEthereumChain, and wallet_addEthereumChain when the wallet does not know the chain. */
  async switchChain() {
    const chainId = numberToHex(this.config.chainId);
    try {
      await this.provider.request({ method: 'wallet_switchEthereumChain', params: [{ chainId }] });
    } catch (err) {
      if ((err?.code ?? err?.data?.originalError?.code) !== 4902) throw err;
      await this.provider.request({
        method: 'wallet_addEthereumChain',
        params: [{ chainId, chainName: this.config.chainName, rpcUrls: [this.config.rpcUrl],
          nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 } }],
      });
    }
    this.chainId = Number(await this.provider.request({ method: 'eth_chainId' }));
  }
}
