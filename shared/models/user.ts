import * as z from 'zod/mini';

/** A user id: a positive integer, as in the original demo (`1` is Emma). */
export const UserIdSchema = z.int().check(z.positive());

/** A user of the system. JSON field names match the demo: `{"id": 1, "name": "Emma"}`. */
export const UserSchema = z.object({
  id: UserIdSchema,
  name: z.string().check(z.minLength(1), z.maxLength(100)),
});
export type User = z.infer<typeof UserSchema>;

/** A user directory: at least one user, ids unique. */
export const UserDirectorySchema = z.array(UserSchema).check(
  z.minLength(1),
  z.refine((users) => new Set(users.map((u) => u.id)).size === users.length, {
    error: 'user ids must be unique',
  }),
);

/** The demo's four users, used unless the `USERS` configuration replaces them. */
export const DEFAULT_USERS: readonly User[] = Object.freeze([
  { id: 1, name: 'Emma' },
  { id: 2, name: 'Bruno' },
  { id: 3, name: 'Rick' },
  { id: 4, name: 'Lena' },
]);

/** Looks users up by id. */
export class UserDirectory {
  readonly #byId: ReadonlyMap<number, User>;

  constructor(users: readonly User[]) {
    this.#byId = new Map(users.map((u) => [u.id, Object.freeze({ ...u })]));
  }

  find(id: number): User | undefined {
    return this.#byId.get(id);
  }

  /** Every user, by id. */
  list(): User[] {
    return [...this.#byId.values()].sort((a, b) => a.id - b.id);
  }
}
