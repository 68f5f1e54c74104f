# syntax=docker/dockerfile:1
# objectcache-operator image: TypeScript compiled in a build stage; the runtime stage holds the
# compiled dist/, package.json and production dependencies only, and runs as a non-root user.
#
#   docker build -t objectcache-operator:0.1.0 .

ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
# tsc -p tsconfig.build.json: dist/src/**/*.js, with .ts import extensions rewritten to .js.
RUN npm run build

FROM ${NODE_IMAGE} AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# No dev dependencies (so neither the compiler nor the `node` package), and no install scripts:
# no production dependency needs one.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# package.json makes Node load dist/ as ES modules ("type": "module").
COPY --from=build /app/package.json ./
COPY --from=production-dependencies /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
# The `node` user of the base image, by number so that runAsNonRoot can check it.
USER 1000:1000
EXPOSE 8080
ENTRYPOINT ["node", "dist/src/main.js"]
