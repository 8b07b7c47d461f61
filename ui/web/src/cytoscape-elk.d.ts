declare module "cytoscape-elk" {
  const register: (cy: typeof import("cytoscape")) => void;
  export default register;
}
