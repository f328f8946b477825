/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The BFF (`lms-bff`) the dev server and `vite preview` forward to.
const backend = process.env.LMS_BFF_URL ?? 'http://127.0.0.1:8080';
const proxy = {
  // Forward the Origin as the BFF's own host: the BFF refuses state-changing
  // requests from another origin (403 CROSS_ORIGIN).
  '/api': { target: backend, changeOrigin: true, headers: { origin: backend } },
  '/openapi.json': { target: backend, changeOrigin: true },
  '/healthz': { target: backend, changeOrigin: true },
};

export default defineConfig({
  plugins: [react()],
  server: { proxy },
  preview: { proxy },
  build: {
    outDir: 'dist',
    sourcemap: false,
    rolldownOptions: {
      output: {
        // React and the router change rarely: their own chunk stays cached
        // across releases of the app.
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler|react-router|cookie|set-cookie-parser)[\\/]/ },
            { name: 'vendor', test: /node_modules[\\/]/ },
          ],
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
