import { bootstrapService } from '@keyledger/service-kit';
import { IssuerModule } from './issuer.module.js';

await bootstrapService({ service: 'issuer', defaultPort: 3001, module: (context) => IssuerModule.forService(context) });
