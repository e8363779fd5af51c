export type * from "./frontend/model.js";
