# The UI page bundle (ui/dist), rebuilt only when the page or shared code changes.
UI_SOURCES := $(shell find ui/web ui/shared -type f 2>/dev/null) ui/build.ts proto/types.ts

ui/dist/app.js: $(UI_SOURCES) $(STAMPS)/npm
	tsx ui/build.ts

BUILD_TARGETS += ui/dist/app.js
