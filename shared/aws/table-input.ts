import type {
  BillingMode,
  CreateTableCommandInput,
  KeyType,
  ProjectionType,
  ScalarAttributeType,
} from '@aws-sdk/client-dynamodb';

/**
 * A table's key schema, indexes and billing, as each table's module holds them (`as const`) for
 * both `CreateTable` offline and its CloudFormation resource.
 */
export interface TableDefinition {
  readonly AttributeDefinitions: readonly {
    readonly AttributeName: string;
    readonly AttributeType: ScalarAttributeType;
  }[];
  readonly KeySchema: readonly KeyElement[];
  readonly LocalSecondaryIndexes?: readonly IndexDefinition[];
  readonly GlobalSecondaryIndexes?: readonly IndexDefinition[];
  readonly BillingMode: BillingMode;
}

interface KeyElement {
  readonly AttributeName: string;
  readonly KeyType: KeyType;
}

interface IndexDefinition {
  readonly IndexName: string;
  readonly KeySchema: readonly KeyElement[];
  readonly Projection: { readonly ProjectionType: ProjectionType };
}

const copyIndex = (index: IndexDefinition) => ({
  IndexName: index.IndexName,
  KeySchema: index.KeySchema.map((k) => ({ ...k })),
  Projection: { ...index.Projection },
});

/**
 * The `CreateTable` input of `definition` for a table named `tableName`, copied: the SDK's input
 * types are mutable, the definition is not to be changed. Time to live is a separate call.
 */
export const tableInput = (
  tableName: string,
  definition: TableDefinition,
): CreateTableCommandInput => ({
  TableName: tableName,
  AttributeDefinitions: definition.AttributeDefinitions.map((a) => ({ ...a })),
  KeySchema: definition.KeySchema.map((k) => ({ ...k })),
  ...(definition.LocalSecondaryIndexes
    ? { LocalSecondaryIndexes: definition.LocalSecondaryIndexes.map(copyIndex) }
    : {}),
  ...(definition.GlobalSecondaryIndexes
    ? { GlobalSecondaryIndexes: definition.GlobalSecondaryIndexes.map(copyIndex) }
    : {}),
  BillingMode: definition.BillingMode,
});
