// The processes that make up a running Keyledger, with their default HTTP ports.
export const SERVICES = [
  { name: 'issuer', port: 3001 },
  { name: 'verifier', port: 3002 },
  { name: 'rotator', port: 3003 },
  { name: 'auditor', port: 3004 },
  { name: 'anomaly-detector', port: 3005 },
  { name: 'relay', port: 3006 },
];
