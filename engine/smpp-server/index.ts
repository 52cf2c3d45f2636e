/** The SMPP server ingress (issue 17): customers bind to Switchyard as ESMEs. */
export { SmppIngress, type SmppIngressOptions, type SmppServerConfig, type SmppTenant } from './smpp-ingress.js';
export { SmppServer, SUBMIT_STATUS, statusOfRefusal, type BindInfo, type SubmitPort } from './smpp-server.js';
export { ConfigSmppCredentials, type SmppAccount, type SmppCredentials } from './smpp-credentials.js';
export { SMPP_GROUP, outboxKey } from './receipt-feed.js';
