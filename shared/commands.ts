/**
 * Command names that more than one process knows (DESIGN.md, "The gate" and "The services").
 * Server, client and web import them from here; nothing re-declares them.
 *
 * @module
 */

/** Commands the gate serves itself, and the events it pushes. */
export const GateCmd = {
  /** Client heartbeat; any connection may send it. */
  HEART: "cs_msg_heart",
  /** Turns a connection into a service link. */
  REG_API: "ss_reg_api",
  /** Binds a user to a connection. */
  USER_LOGIN: "ss_msg_user_login",
  /** Unbinds a user from a connection. */
  USER_LOGOUT: "ss_msg_user_logout",
  /** Pushes a message to clients. */
  PUSH: "ss_msg_push",
  /** Pushes `sc_msg_kicked` to a client, then closes it. */
  KICK: "ss_msg_kick",
  /** Claims a routing key for the calling link (route by key, shared/key_routes.ts). */
  KEY_CLAIM: "ss_msg_key_claim",
  /** Adds or removes clientIds told when a claimed key is lost. */
  KEY_NOTIFY: "ss_msg_key_notify",
  /** Releases a routing key the calling link claimed. */
  KEY_RELEASE: "ss_msg_key_release",
  /** Event pushed to the service links that listed it when a client leaves. */
  CLIENT_LEAVE: "ss_msg_client_leave",
  /**
   * Event pushed (cluster mode) to the service links that listed `ss_msg_client_leave` when a
   * gate died or came back with a new epoch: every client in its range left. Data
   * {@linkcode GateDown}.
   */
  GATE_DOWN: "ss_msg_gate_down",
  /**
   * Event pushed to the service links that listed it when a user is bound to a client
   * (`ss_msg_user_login`), whichever gate the client and the link are on. Data
   * {@linkcode UserBind}.
   */
  USER_BIND: "ss_msg_user_bind",
  /**
   * Event pushed to the service links that listed it when a user's binding to a client ended
   * while the connection stays open (`ss_msg_user_logout`, or a bind of another user replacing
   * it), whichever gate the client and the link are on; a close is `ss_msg_client_leave`. Data
   * {@linkcode UserUnbind}.
   */
  USER_UNBIND: "ss_msg_user_unbind",
  /** Push a kicked client receives before its connection closes. */
  KICKED: "sc_msg_kicked",
  /** Push that reports a protocol fault to a WebSocket text client: data {code, msg}. */
  ERROR: "sc_msg_error",
} as const;

/**
 * The data of `ss_msg_gate_down`: gate `gate` went down (or restarted), and every clientId with
 * `fromClientId <= clientId < toClientId` is gone, as if each had sent `ss_msg_client_leave`.
 */
export interface GateDown {
  /** The gate's number. */
  gate: number;
  /** The lowest clientId that left. */
  fromClientId: number;
  /** One past the highest clientId that left. */
  toClientId: number;
}

/** The data of `ss_msg_user_bind`: user `userId` was bound to client `clientId`. */
export interface UserBind {
  /** The client's id. */
  clientId: number;
  /** The user now bound to it (positive). */
  userId: number;
}

/**
 * The data of `ss_msg_user_unbind`: user `userId` is no longer bound to client `clientId`,
 * which stays open.
 */
export interface UserUnbind {
  /** The client's id. */
  clientId: number;
  /** The user that was bound to it (positive). */
  userId: number;
}

/** Commands of the login service. */
export const LoginCmd = {
  REGISTER: "cs_msg_register",
  LOGIN: "cs_msg_login",
  LOGIN_BY_TOKEN: "cs_msg_login_by_token",
  CHANGE_PW: "cs_msg_change_pw",
  LOGOUT: "cs_msg_logout",
  DELETE_ACCOUNT: "cs_msg_delete_account",
} as const;

/** Commands and pushes of the group service. */
export const GroupCmd = {
  CREATE: "cs_msg_group_create",
  JOIN: "cs_msg_group_join",
  LEAVE: "cs_msg_group_leave",
  SEND: "cs_msg_group_send",
  MEMBERS: "cs_msg_group_members",
  DISMISS: "cs_msg_group_dismiss",
  LIST: "cs_msg_group_list",
  /** Push: a message sent to a group. */
  MSG: "sc_msg_group_msg",
  /** Push: someone joined a group. */
  JOINED: "sc_msg_group_join",
  /** Push: someone left a group. */
  LEFT: "sc_msg_group_leave",
  /** Push: a member's connection dropped; it keeps its place for the grace period. */
  AWAY: "sc_msg_group_away",
  /** Push: a member that was away is back on a new connection, in the same place. */
  BACK: "sc_msg_group_back",
  /** Push: the group was dismissed. */
  DISMISSED: "sc_msg_group_dismiss",
} as const;

/** Prefix of the commands only service links may call. */
export const SERVICE_CMD_PREFIX = "ss_";

/** Whether `cmd` is reserved for service links. */
export function isServiceCmd(cmd: string): boolean {
  return cmd.startsWith(SERVICE_CMD_PREFIX);
}
