import { bootstrapService } from '@keyledger/service-kit';
import { VerifierModule } from './verifier.module.js';

await bootstrapService({ service: 'verifier', defaultPort: 3002, module: (context) => VerifierModule.forService(context) });
