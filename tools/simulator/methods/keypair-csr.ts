/** CreatePublicPrivateKeyPair and GetClientCertificateSignRequest (Element 11.7). */
import { z } from 'zod';
import { createClusterKeyPair, SUBJECT_FIELDS, type SubjectInput } from '../crypto';
import { ElementFault, ErrorNames, invalidParameter } from '../errors';
import { defineMethod, type MethodTable } from './types';

const SubjectValue = z.string().max(128);

export const keyPairMethods: MethodTable = {
  /**
   * Replaces the cluster's only key pair with a new RSA-2048 pair. Allowed while key servers use
   * the old one (the docs only advise against it); their client certificates then no longer match
   * the cluster's key and KMIP connections fail with an authentication failure.
   */
  CreatePublicPrivateKeyPair: defineMethod({
    since: '11.7',
    params: {
      commonName: SubjectValue.optional(),
      organization: SubjectValue.optional(),
      organizationalUnit: SubjectValue.optional(),
      locality: SubjectValue.optional(),
      state: SubjectValue.optional(),
      country: SubjectValue.optional(),
      emailAddress: SubjectValue.optional(),
    },
    async run(ctx, params) {
      if (params.country !== undefined && params.country !== '' && !/^[A-Za-z]{2}$/.test(params.country)) {
        throw invalidParameter('country', 'must be a two-letter ISO 3166 country code');
      }
      const subject: SubjectInput = {};
      for (const [field] of SUBJECT_FIELDS) {
        const value = params[field];
        if (value !== undefined) subject[field] = value;
      }
      const keyPair = await createClusterKeyPair(subject, Date.now(), ctx.cluster.config.csrVersion);
      await ctx.cluster.run((state) => {
        state.keyPair = keyPair;
      });
      ctx.cluster.log(`new cluster key pair created (CN=${subject.commonName ?? ''})`);
      return {};
    },
  }),

  GetClientCertificateSignRequest: defineMethod({
    since: '11.7',
    params: {},
    async run(ctx) {
      return ctx.cluster.run((state) => {
        if (!state.keyPair) {
          throw new ElementFault(
            ErrorNames.keyPairDoesNotExist,
            'No public/private key pair exists on the cluster; call CreatePublicPrivateKeyPair first.',
          );
        }
        return { clientCertificateSignRequest: state.keyPair.csrPem };
      });
    },
  }),
};
